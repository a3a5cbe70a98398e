// The image kind: RKMEImageSpec, a reduced set of preprocessed images scored
// with the NNGP kernel of random ConvNets (not packed: searched pair by pair).
#pragma once

#include "engine/image/rkme_image_spec.h"
#include "engine/kinds/stat_spec.h"

namespace lwd {

const SpecKind& image_spec_kind();
StatSpec stat_spec(RKMEImageSpec spec);

}  // namespace lwd
