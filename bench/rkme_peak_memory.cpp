// Peak resident memory of one RKME generation, measured in a fresh process so
// nothing else inflates the high-water mark. Usage: rkme_peak_memory N D [K]
// Prints one JSON object: the data size, the resident size before and the
// peak during generation (MiB), and the extra peak relative to n*d doubles.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "kernels/random.h"
#include "kernels/rkme.h"

namespace {

double current_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0.0;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s N D [K]\n", argv[0]);
    return 2;
  }
  const std::int64_t n = std::atoll(argv[1]);
  const std::int64_t d = std::atoll(argv[2]);
  lwd::kernels::RkmeOptions options;
  if (argc > 3) options.k = std::atoi(argv[3]);
  if (n < 1 || d < 1 || options.k < 1) {
    std::fprintf(stderr, "N, D and K must be positive\n");
    return 2;
  }
  lwd::kernels::Matrix<double> x(n, d);
  lwd::kernels::Rng rng(1);
  for (auto& v : x.values()) v = rng.normal();
  const double before = current_rss_mib();
  const auto t0 = std::chrono::steady_clock::now();
  const auto rkme = lwd::kernels::build_rkme(lwd::kernels::Context{}, x.view(), options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double peak = peak_rss_mib();
  const double data_mib = static_cast<double>(n * d) * 8.0 / (1024.0 * 1024.0);
  std::printf(
      "{\"n\":%lld,\"d\":%lld,\"k\":%lld,\"data_mib\":%.2f,\"rss_before_mib\":%.2f,\"peak_rss_mib\":%.2f,"
      "\"extra_peak_over_data\":%.2f,\"seconds\":%.3f}\n",
      static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(rkme.z.rows()), data_mib, before,
      peak, (peak - before) / data_mib, seconds);
  return 0;
}
