#include "encoder/model/flop_count.h"

namespace vista::encoder {

double vision_flops(const ModelConfig& c) {
  const double patches = static_cast<double>(c.vision.num_patches());
  const double n = 1 + patches, w = c.vision.width, h = c.vision.mlp_hidden();
  const double patch_embed = 2.0 * patches * 3 * c.vision.patch_size * c.vision.patch_size * w;
  // Fused QKV, attention scores and context, output projection, SwiGLU (two up, one down).
  const double layer =
      2 * n * w * 3 * w + 4 * n * n * w + 2 * n * w * w + 2 * n * w * 2 * h + 2 * n * h * w;
  const double projection = 2.0 * patches * w * c.text.hidden_size;
  return patch_embed + c.vision.layers * layer + projection;
}

double text_flops(const ModelConfig& c, int64_t tokens) {
  const double t = static_cast<double>(tokens), d = c.text.hidden_size;
  const double i = c.text.intermediate_size;
  // QKV + output projection, attention scores and context, the two feed-forward products.
  const double layer = 2 * t * d * 4 * d + 4 * t * t * d + 4 * t * d * i;
  return c.text.num_hidden_layers * layer;
}

double image_text_flops(const ModelConfig& c, int64_t text_tokens) {
  return vision_flops(c) + text_flops(c, c.image_tokens() + text_tokens);
}

}  // namespace vista::encoder
