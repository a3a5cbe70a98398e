#include "kernels/context.h"

#include <omp.h>

namespace lwd::kernels {

int Context::threads() const { return n_threads > 0 ? n_threads : omp_get_max_threads(); }

}  // namespace lwd::kernels
