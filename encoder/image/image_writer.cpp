#include "encoder/image/image_writer.h"

#include <csetjmp>
#include <cstdlib>
#include <memory>

#include <png.h>

#include "encoder/image/jpeg_errors.h"

namespace vista::encoder {
namespace {

Status check_buffer(const RgbImage& image) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return Status::invalid_argument(
        "the image buffer is malformed: " + std::to_string(image.width) + "x" +
        std::to_string(image.height) + " RGB pixels in " + std::to_string(image.pixels.size()) +
        " bytes");
  }
  return Status::ok();
}

// Everything touched after setjmp lives here, so no automatic variable of the calling frame is
// modified between setjmp and longjmp.
struct JpegEncodeJob {
  jpeg_compress_struct cinfo;
  internal::JpegErrorManager err;
  unsigned char* out = nullptr;  // malloc'ed by jpeg_mem_dest
  unsigned long out_size = 0;
  bool created = false;
};

bool run_jpeg(JpegEncodeJob& job, const RgbImage& image, int quality) {
  if (setjmp(job.err.jump)) return false;
  jpeg_create_compress(&job.cinfo);
  job.created = true;
  jpeg_mem_dest(&job.cinfo, &job.out, &job.out_size);
  job.cinfo.image_width = static_cast<JDIMENSION>(image.width);
  job.cinfo.image_height = static_cast<JDIMENSION>(image.height);
  job.cinfo.input_components = 3;
  job.cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&job.cinfo);
  jpeg_set_quality(&job.cinfo, quality, TRUE);
  jpeg_start_compress(&job.cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * 3;
  while (job.cinfo.next_scanline < job.cinfo.image_height) {
    // libjpeg's API takes non-const rows; it only reads them.
    JSAMPROW row = const_cast<JSAMPLE*>(image.pixels.data() + stride * job.cinfo.next_scanline);
    jpeg_write_scanlines(&job.cinfo, &row, 1);
  }
  jpeg_finish_compress(&job.cinfo);
  return true;
}

}  // namespace

Result<std::string> encode_png(const RgbImage& image) {
  VISTA_RETURN_IF_ERROR(check_buffer(image));
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  auto failed = [&png] {
    const std::string message = png.message;
    png_image_free(&png);
    return Status::internal("PNG encoding failed: " + message);
  };
  // The first call only measures; the second writes into a buffer of that size.
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr)) {
    return failed();
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
    return failed();
  }
  out.resize(size);
  return out;
}

Result<std::string> encode_jpeg(const RgbImage& image, int quality) {
  VISTA_RETURN_IF_ERROR(check_buffer(image));
  if (quality < 1 || quality > 100) {
    return Status::invalid_argument("JPEG quality must be 1..100, got " + std::to_string(quality));
  }
  auto job = std::make_unique<JpegEncodeJob>();
  job->cinfo.err = internal::use_jpeg_errors(job->err);
  const bool completed = run_jpeg(*job, image, quality);
  if (job->created) jpeg_destroy_compress(&job->cinfo);
  std::unique_ptr<unsigned char, decltype(&std::free)> owned(job->out, &std::free);
  if (!completed) return Status::internal(std::string("JPEG encoding failed: ") + job->err.message);
  return std::string(reinterpret_cast<const char*>(owned.get()), job->out_size);
}

}  // namespace vista::encoder
