// Floating-point operations of one forward pass, counted as 2 x the multiply-adds of the matrix
// products (what costs; normalisations, softmax and element-wise work are left out). Benchmarks
// divide these by time to report achieved GFLOP/s.
#pragma once

#include <cstdint>

#include "encoder/model/model_config.h"

namespace vista::encoder {

// The vision tower over one image, plus projecting its tokens into the text side.
double vision_flops(const ModelConfig& config);

// The BERT encoder over one sequence of `tokens` positions (an image's tokens count here too).
double text_flops(const ModelConfig& config, int64_t tokens);

// One image with a text of `text_tokens` pieces including [CLS] and [SEP] (2 for an image alone).
double image_text_flops(const ModelConfig& config, int64_t text_tokens);

}  // namespace vista::encoder
