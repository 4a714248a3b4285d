// A distributed ingestion on a real Slurm cluster on this machine: munged, slurmctld and slurmd
// (Debian's slurm-wlm 22.05 and munge, installed by scripts/setup.sh) start on 127.0.0.1 with
// their own configuration in a temporary folder; scripts/slurm/submit.sh submits the sample set
// (data/sample, scripts/sample-data.sh) as an array job of 4 shards and the dependent import;
// the collection it builds must equal a single-machine ingestion of the same manifest. Every
// daemon is stopped by its PID when the test ends, passed or failed. CTest label: slurm.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <fstream>
#include <random>
#include <regex>

#include "engine/catalog.h"
#include "engine/segment.h"
#include "tests/child_process.h"
#include "tests/collection_compare.h"
#include "tests/test_support.h"

namespace vista {
namespace {

namespace fs = std::filesystem;
using vista::testing::ChildExit;
using vista::testing::ChildProcess;
using Env = vista::testing::ChildEnv;

constexpr int kShards = 4;

// A TCP port nobody listens on right now.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin",
                          "/usr/local/bin"}) {
    const fs::path p = fs::path(dir) / name;
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// One-node Slurm with munge, all state under `dir`; stopped (jobs cancelled, daemons
// terminated by PID) by stop() or the destructor.
class LocalSlurm {
 public:
  explicit LocalSlurm(fs::path dir) : dir_(std::move(dir)) {}
  ~LocalSlurm() { stop(); }

  const Env& env() const { return env_; }
  const fs::path& dir() const { return dir_; }

  // Returns "" on success, else what went wrong.
  std::string start() {
    // munged wants its socket folder searchable by all and its key private.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    {
      std::random_device rd;
      std::ofstream key(dir_ / "munge.key", std::ios::binary);
      for (int i = 0; i < 1024; ++i) key.put(static_cast<char>(rd() & 0xff));
    }
    fs::permissions(dir_ / "munge.key", fs::perms::owner_read);
    const fs::path socket = dir_ / "munge.socket";
    munged_ = vista::testing::start_child(
        {find_program("munged"), "-F", "--socket=" + socket.string(),
         "--key-file=" + (dir_ / "munge.key").string(),
         "--pid-file=" + (dir_ / "munged.pid").string(),
         "--log-file=" + (dir_ / "munged.log").string(),
         "--seed-file=" + (dir_ / "munged.seed").string()},
        dir_, "munged");
    if (!vista::testing::wait_until([&] { return fs::exists(socket); }, std::chrono::seconds(20)))
      return "munged did not create its socket: " + log("munged.log");

    const passwd* pw = getpwuid(getuid());
    const std::string user = pw ? pw->pw_name : std::to_string(getuid());
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    fs::create_directories(dir_ / "state");
    fs::create_directories(dir_ / "spool");
    const fs::path conf = dir_ / "slurm.conf";
    std::ofstream(conf)
        << "ClusterName=vistatest\n"
        << "SlurmctldHost=localhost(127.0.0.1)\n"
        << "SlurmUser=" << user << "\nSlurmdUser=" << user << "\n"
        << "SlurmctldPort=" << free_port() << "\nSlurmdPort=" << free_port() << "\n"
        << "AuthType=auth/munge\nCredType=cred/munge\n"
        << "AuthInfo=socket=" << socket.string() << "\n"
        << "StateSaveLocation=" << (dir_ / "state").string() << "\n"
        << "SlurmdSpoolDir=" << (dir_ / "spool").string() << "\n"
        << "SlurmctldPidFile=" << (dir_ / "slurmctld.pid").string() << "\n"
        << "SlurmdPidFile=" << (dir_ / "slurmd.pid").string() << "\n"
        << "SlurmctldLogFile=" << (dir_ / "slurmctld.log").string() << "\n"
        << "SlurmdLogFile=" << (dir_ / "slurmd.log").string() << "\n"
        << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        << "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        << "JobCompType=jobcomp/none\nMpiDefault=none\nReturnToService=2\n"
        << "SchedulerType=sched/backfill\nSelectType=select/cons_tres\n"
        << "SelectTypeParameters=CR_Core\nMinJobAge=600\n"
        << "NodeName=vista-node NodeHostname=" << host << " NodeAddr=127.0.0.1 CPUs="
        << std::max(1u, std::thread::hardware_concurrency()) << " State=UNKNOWN\n"
        << "PartitionName=debug Nodes=vista-node Default=YES MaxTime=INFINITE State=UP\n";
    env_ = {{"SLURM_CONF", conf.string()}};
    slurmctld_ = vista::testing::start_child(
        {find_program("slurmctld"), "-D", "-f", conf.string()}, dir_, "slurmctld", env_);
    slurmd_ = vista::testing::start_child(
        {find_program("slurmd"), "-D", "-f", conf.string(), "-N", "vista-node"}, dir_, "slurmd",
        env_);
    const bool idle = vista::testing::wait_until(
        [&] {
          ChildExit r = run({"sinfo", "-h", "-o", "%t"}, "sinfo");
          return r.exit_code == 0 && r.out.find("idle") != std::string::npos;
        },
        std::chrono::seconds(60));
    if (!idle) return "the node never became idle: " + log("slurmctld.log") + log("slurmd.log");
    return "";
  }

  ChildExit run(const std::vector<std::string>& argv, const std::string& name,
                const Env& extra = {}, const fs::path& cwd = {}) {
    Env env = env_;
    env.insert(env.end(), extra.begin(), extra.end());
    return vista::testing::run_child(argv, dir_ / "io", name, env, cwd);
  }

  // "COMPLETED", "FAILED", ... of every task of a job, one per line of `scontrol show job`.
  std::vector<std::string> job_states(const std::string& job) {
    ChildExit r = run({"scontrol", "show", "job", "-o", job}, "scontrol");
    std::vector<std::string> states;
    const std::regex re("JobState=([A-Z_]+)");
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), re);
         it != std::sregex_iterator(); ++it)
      states.push_back((*it)[1]);
    return states;
  }

  void remember_job(const std::string& id) { jobs_.push_back(id); }

  std::string log(const std::string& name) const {
    return "\n--- " + name + " ---\n" + vista::testing::read_text_file(dir_ / name);
  }

  // Cancels our jobs, then stops slurmd, slurmctld and munged by PID. Idempotent.
  void stop() {
    if (slurmctld_.pid > 0 && !jobs_.empty()) {
      std::vector<std::string> argv = {"scancel"};
      argv.insert(argv.end(), jobs_.begin(), jobs_.end());
      run(argv, "scancel");
      vista::testing::wait_until(
          [&] {
            ChildExit q = run({"squeue", "-h"}, "squeue");
            return q.exit_code != 0 || q.out.empty();
          },
          std::chrono::seconds(20));
      jobs_.clear();
    }
    for (ChildProcess* p : {&slurmd_, &slurmctld_, &munged_}) {
      const pid_t pid = p->pid;
      if (pid <= 0) continue;
      EXPECT_TRUE(vista::testing::stop_child(*p)) << "process " << pid << " survived";
    }
  }

 private:
  fs::path dir_;
  Env env_;
  ChildProcess munged_, slurmctld_, slurmd_;
  std::vector<std::string> jobs_;
};

TEST(SlurmTest, ArrayJobOfShardsThenImportEqualsOneMachine) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path manifest = vista::testing::source_dir() / "data" / "sample" / "manifest.jsonl";
  std::string missing;
  for (const char* p : {"munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo"})
    if (find_program(p).empty()) missing += std::string(" ") + p;
  if (!fs::exists(vista::testing::source_dir() / "data" / "sample" / "images" / "coffee.png"))
    missing += " data/sample/images (scripts/sample-data.sh)";
  if (!missing.empty()) {
    if (vista::testing::running_in_ci()) FAIL() << "missing:" << missing << "; run scripts/setup.sh";
    GTEST_SKIP() << "missing:" << missing << "; run scripts/setup.sh";
  }

  vista::testing::TempDir tmp;
  LocalSlurm slurm(tmp.path());
  const std::string started = slurm.start();
  ASSERT_EQ(started, "");

  const fs::path segments = tmp.path() / "segments", data = tmp.path() / "data";
  const std::string model = (vista::testing::golden_dir() / "tiny-model").string();
  const Env job_env = {{"VISTA_BIN", vista::testing::vista_binary().string()},
                       {"VISTA_MODEL", model},
                       {"VISTA_SOURCES", manifest.string()},
                       {"VISTA_SEGMENTS", segments.string()},
                       {"VISTA_DATA", data.string()},
                       {"VISTA_COLLECTION", "sample"}};
  ChildExit submitted = slurm.run(
      {"bash", (vista::testing::source_dir() / "scripts" / "slurm" / "submit.sh").string(),
       std::to_string(kShards), "--output", (tmp.path() / "shard-%A_%a.out").string()},
      "submit", job_env, tmp.path());
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  std::smatch ids;
  const std::regex ids_re("^([0-9]+) ([0-9]+)\\s*$");
  ASSERT_TRUE(std::regex_match(submitted.out, ids, ids_re)) << submitted.out;
  const std::string array = ids[1], import = ids[2];
  slurm.remember_job(array);
  slurm.remember_job(import);

  const auto finished = [](const std::vector<std::string>& states) {
    if (states.empty()) return false;
    for (const auto& s : states)
      if (s == "PENDING" || s == "RUNNING" || s == "CONFIGURING" || s == "COMPLETING")
        return false;
    return true;
  };
  const bool done = vista::testing::wait_until(
      [&] { return finished(slurm.job_states(import)); }, std::chrono::minutes(5));
  std::string outputs;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    if (e.path().extension() == ".out")
      outputs += "\n--- " + e.path().filename().string() + " ---\n" +
                 vista::testing::read_text_file(e.path());
  ASSERT_TRUE(done) << "the jobs did not finish in 5 minutes" << outputs
                    << slurm.log("slurmctld.log");

  const std::vector<std::string> shard_states = slurm.job_states(array);
  ASSERT_EQ(shard_states.size(), static_cast<size_t>(kShards)) << outputs;
  for (const auto& s : shard_states) EXPECT_EQ(s, "COMPLETED") << outputs;
  ASSERT_EQ(slurm.job_states(import), std::vector<std::string>{"COMPLETED"}) << outputs;

  // Four segments, one per shard, that together hold the sample set.
  int64_t documents = 0;
  for (int k = 0; k < kShards; ++k) {
    auto seg = engine::Segment::open(segments / ("shard-" + std::to_string(k)));
    ASSERT_TRUE(seg.is_ok()) << seg.status() << outputs;
    EXPECT_EQ(seg->manifest().shard->to_string(),
              std::to_string(k) + "/" + std::to_string(kShards));
    documents += seg->manifest().count;
  }

  // The same manifest ingested on one machine.
  const fs::path single = tmp.path() / "single";
  ChildExit one = vista::testing::run_child(
      {vista::testing::vista_binary().string(), "ingest", "--data", single.string(),
       "--collection", "sample", "--model", model, "--progress", "none", manifest.string()},
      tmp.path() / "io", "single");
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;

  auto a = engine::Catalog::open(single);
  auto b = engine::Catalog::open(data);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto ca = (*a)->get("sample");
  auto cb = (*b)->get("sample");
  ASSERT_TRUE(ca.is_ok()) << ca.status();
  ASSERT_TRUE(cb.is_ok()) << cb.status() << outputs;
  EXPECT_EQ((*cb)->count(), documents);
  EXPECT_GE(documents, 15);
  vista::testing::expect_same_documents(**ca, **cb);

  slurm.stop();
}

}  // namespace
}  // namespace vista
