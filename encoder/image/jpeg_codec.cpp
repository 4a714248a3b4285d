// JPEG through libjpeg(-turbo) directly, set up as Pillow sets it up: ISLOW DCT and fancy
// upsampling (the library defaults), libjpeg's own colour conversion to RGB or gray, CMYK/YCCK
// delivered as CMYK and inverted (Pillow always assumes Adobe polarity, rawmode "CMYK;I").
//
// Truncation follows Pillow: the image is truncated when the data ends before the last
// scanline has been produced (Pillow's decoder then asks for more input and gets none). Data
// missing only after the last scanline (e.g. the EOI marker) is accepted, as Pillow accepts it.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "encoder/image/codec_internal.h"
#include "encoder/image/jpeg_errors.h"

namespace vista::encoder::internal {
namespace {

// Pathological progressive files can hold thousands of tiny scans, each of which costs a pass
// over the whole coefficient buffer; real encoders emit at most a few dozen.
constexpr int kMaxScans = 1000;

struct SourceManager {
  jpeg_source_mgr pub;
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool ran_out = false;  // the decoder asked for bytes past the end
};

const JOCTET kFakeEoi[2] = {0xFF, JPEG_EOI};

void init_source(j_decompress_ptr) {}

boolean fill_input_buffer(j_decompress_ptr cinfo) {
  auto* src = reinterpret_cast<SourceManager*>(cinfo->src);
  // Everything was handed over at once, so being asked for more means the data ended early.
  // Feed an EOI marker so the library stops cleanly; ran_out records the truncation.
  src->ran_out = true;
  src->pub.next_input_byte = kFakeEoi;
  src->pub.bytes_in_buffer = sizeof(kFakeEoi);
  return TRUE;
}

void skip_input_data(j_decompress_ptr cinfo, long num_bytes) {
  if (num_bytes <= 0) return;
  auto* src = reinterpret_cast<SourceManager*>(cinfo->src);
  if (static_cast<size_t>(num_bytes) > src->pub.bytes_in_buffer) {
    src->pub.next_input_byte += src->pub.bytes_in_buffer;
    src->pub.bytes_in_buffer = 0;
    fill_input_buffer(cinfo);
    return;
  }
  src->pub.next_input_byte += num_bytes;
  src->pub.bytes_in_buffer -= static_cast<size_t>(num_bytes);
}

void term_source(j_decompress_ptr) {}

void on_progress(j_common_ptr cinfo) {
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->is_decompressor && dinfo->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
    err->too_many_scans = true;
    std::snprintf(err->message, sizeof(err->message), "more than %d progressive scans", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

// Everything the decoder touches after setjmp lives here, so no automatic variable of the
// calling frame is modified between setjmp and longjmp.
struct JpegJob {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  SourceManager src;
  jpeg_progress_mgr progress;
  DecodedImage image;
  std::vector<uint8_t> row;
  bool created = false;
  bool truncated_before_end = false;
  Status status;
};

// Runs the decode; returns false when libjpeg raised an error (err.message holds it).
bool run(JpegJob& job, const DecodeLimits& limits) {
  jpeg_decompress_struct& cinfo = job.cinfo;
  if (setjmp(job.err.jump)) return false;

  jpeg_create_decompress(&cinfo);
  job.created = true;
  cinfo.src = &job.src.pub;
  cinfo.progress = &job.progress;

  jpeg_read_header(&cinfo, TRUE);
  if (job.src.ran_out) {
    job.status = Status::corruption(std::string(kTruncatedMessage) + " (JPEG header incomplete)");
    return true;
  }
  if (cinfo.data_precision != 8) {
    job.status = Status::unsupported("cannot handle " + std::to_string(cinfo.data_precision) +
                                     "-bit JPEG layers (only 8-bit JPEG is supported)");
    return true;
  }
  PixelMode mode;
  int channels;
  switch (cinfo.num_components) {
    case 1:
      mode = PixelMode::kL;
      channels = 1;
      cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case 3:
      mode = PixelMode::kRGB;
      channels = 3;
      cinfo.out_color_space = JCS_RGB;
      break;
    case 4:
      mode = PixelMode::kCMYK;
      channels = 4;
      cinfo.out_color_space = JCS_CMYK;
      break;
    default:
      job.status = Status::unsupported("cannot handle " + std::to_string(cinfo.num_components) +
                                       "-layer JPEG images");
      return true;
  }
  // Pillow's defaults, stated rather than assumed.
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  cinfo.do_block_smoothing = TRUE;
  cinfo.scale_num = 1;
  cinfo.scale_denom = 1;

  job.status = check_dimensions("JPEG", cinfo.image_width, cinfo.image_height, limits);
  if (!job.status.is_ok()) return true;

  jpeg_start_decompress(&cinfo);
  if (static_cast<int>(cinfo.output_components) != channels) {
    job.status = Status::unsupported("unexpected JPEG colour layout");
    return true;
  }
  const int width = static_cast<int>(cinfo.output_width);
  const int height = static_cast<int>(cinfo.output_height);
  allocate_samples(job.image, mode, width, height, channels);
  job.image.format = "JPEG";
  const size_t stride = static_cast<size_t>(width) * channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {job.image.samples.data() + stride * cinfo.output_scanline};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
  }
  job.truncated_before_end = job.src.ran_out;
  if (!job.truncated_before_end) jpeg_finish_decompress(&cinfo);
  return true;
}

}  // namespace

Result<DecodedImage> decode_jpeg(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  auto job = std::make_unique<JpegJob>();
  job->cinfo.err = use_jpeg_errors(job->err);
  job->src.data = data;
  job->src.size = size;
  job->src.pub.next_input_byte = data;
  job->src.pub.bytes_in_buffer = size;
  job->src.pub.init_source = init_source;
  job->src.pub.fill_input_buffer = fill_input_buffer;
  job->src.pub.skip_input_data = skip_input_data;
  job->src.pub.resync_to_restart = jpeg_resync_to_restart;
  job->src.pub.term_source = term_source;
  job->progress.progress_monitor = on_progress;

  const bool completed = run(*job, limits);
  if (job->created) jpeg_destroy_decompress(&job->cinfo);

  if (!completed) {
    if (job->err.too_many_scans) {
      return Status::resource_exhausted(std::string("JPEG image has ") + job->err.message);
    }
    if (job->src.ran_out) {
      return Status::corruption(std::string(kTruncatedMessage) + " (" + job->err.message + ")");
    }
    return Status::corruption(std::string("broken JPEG data stream: ") + job->err.message);
  }
  if (!job->status.is_ok()) return job->status;
  if (job->truncated_before_end) {
    return Status::corruption(std::string(kTruncatedMessage) +
                              " (JPEG data ends before the last scanline)");
  }
  DecodedImage image = std::move(job->image);
  if (image.mode == PixelMode::kCMYK) {
    for (uint8_t& v : image.samples) v = static_cast<uint8_t>(255 - v);
  }
  return image;
}

}  // namespace vista::encoder::internal
