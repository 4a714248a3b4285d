// A base-size Visualized-BGE model directory with random weights, for timing the real model's
// arithmetic where the published weights are not at hand (`vista bench encoder --random base`,
// the benchmarks). The vectors it gives mean nothing; never use it to index real data.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/status.h"

namespace vista::encoder {

class VisualizedBgeImpl;

// Draws every parameter of `model` from N(0, 0.02), LayerNorm scales 1, seeded by `seed`;
// buffers (RoPE tables) keep their computed values.
void randomize_weights(VisualizedBgeImpl& model, uint64_t seed);

// Writes into `dir` (created; the caller owns it): the base config.json (BERT-base text side,
// EVA02-CLIP-B-16 vision tower by default, marked with kRandomWeightsKey so that loading it
// warns), a vocab.txt and a model.safetensors of N(0, 0.02)
// weights (LayerNorm scales 1; RoPE tables as the network computes them), about 0.8 GB.
// `vocab` is copied when given (e.g. the real vocab.txt); otherwise a stand-in vocabulary of the
// same size is written: BERT's special tokens at their ids, single characters, common English
// words, then filler, so short English texts tokenize to about as many pieces as with the real
// one. Deterministic (seeded). Fails with IOError naming the file that could not be written.
Status write_random_base_model(const std::filesystem::path& dir,
                               const std::filesystem::path& vocab = {});

}  // namespace vista::encoder
