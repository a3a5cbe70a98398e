// The text kind: RKMETextSpec, a table RKME over sentence embeddings that
// records the documents' languages and the encoder that made the vectors.
#pragma once

#include "engine/kinds/stat_spec.h"
#include "engine/text/rkme_text_spec.h"

namespace lwd {

const SpecKind& text_spec_kind();
StatSpec stat_spec(RKMETextSpec spec);

}  // namespace lwd
