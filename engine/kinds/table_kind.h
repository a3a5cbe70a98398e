// The table kind: RKMETableSpec, an RBF RKME over the model's own input rows.
#pragma once

#include "engine/kinds/stat_spec.h"
#include "engine/spec/rkme_table_spec.h"

namespace lwd {

const SpecKind& table_spec_kind();
StatSpec stat_spec(RKMETableSpec spec);

}  // namespace lwd
