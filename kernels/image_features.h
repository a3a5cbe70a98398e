// Numeric kernels of the image RKME (docs/DESIGN.md §3.5), one header per concern:
//   image_shape.h       the NCHW batch shape
//   image_preprocess.h  non-finite imputation, antialiased resize, per-channel
//                       standardisation
//   zca_whitening.h     ZCA whitening
//   conv3x3.h           3x3 convolutions by im2col + GEMM (CNHW layout)
//   random_conv_net.h   the random ConvNets whose features define the kernel the
//                       reduced set is fitted under, and their backward pass
// This header includes them all. Numbers only: no file formats, no learnware
// concepts.
//
// Layouts. Image batches are NCHW, contiguous float32 (what .npy files and the
// reference's tensors hold). Inside a network a batch is kept channel-major,
// "CNHW": plane c holds the c-th channel of every image of the batch back to
// back, so one GEMM convolves the whole batch (N = images x H x W columns).
//
// Determinism. Work is split into blocks of a fixed number of images, each
// block computed by the same single-threaded BLAS calls whatever the thread
// count, and block partial sums are reduced in block order: results are
// bit-identical for 1 and N threads. Every kernel has a plain *_ref beside it
// (naive loops, float64) that the tests compare against.
#pragma once

#include "kernels/conv3x3.h"
#include "kernels/image_preprocess.h"
#include "kernels/image_shape.h"
#include "kernels/parallel.h"
#include "kernels/random_conv_net.h"
#include "kernels/zca_whitening.h"
