// Internal to vista_image: libjpeg's error handling, shared by the JPEG decoder and encoder.
// libjpeg reports a fatal error by calling error_exit, which must not return: this one keeps the
// library's message and longjmps to the setjmp of the job that owns the manager. Warnings
// (corrupt data the library recovers from) are ignored, as Pillow ignores them.
#pragma once

#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE without including it

#include <jpeglib.h>

namespace vista::encoder::internal {

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first, so that libjpeg's pointer to it is a pointer to the manager
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool too_many_scans = false;  // set by the decoder's progress monitor before it jumps
};

inline void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

inline void jpeg_ignore_message(j_common_ptr) {}

// libjpeg's defaults with the two handlers above; the result goes into cinfo.err.
inline jpeg_error_mgr* use_jpeg_errors(JpegErrorManager& manager) {
  jpeg_std_error(&manager.pub);
  manager.pub.error_exit = jpeg_error_exit;
  manager.pub.output_message = jpeg_ignore_message;
  return &manager.pub;
}

}  // namespace vista::encoder::internal
