// y = x Wᵀ (kernels/kernels.inc: gemm), every implementation, on the projections of the "small"
// presets (hidden 2048): N × K = 2048 × 2048 (wq, wo), 10944 × 2048 (dense FFN w1/w3), 2048 × 10944
// (w2) and 1408 × 2048 (a DeepSeek-V2-Lite expert's w1/w3), fp32 and bf16 weights:
//   decode, M = 1, 4, 16: cold (W rotates through copies totalling >= 1 GiB, so it comes from DRAM);
//   prefill, M = 128, 512, 2048: warm (one W, re-read from the caches; packing it is in the time);
//   thread scaling: M = 512, 2048 × 2048 fp32 on 1 and 2 threads (threads:1 / threads:2).
// FLOP = 2·M·N·K; bytes = W (N·K·element size) + x (M·K·4) + y (M·N·4), the least any kernel moves.
// OpenBLAS and oneDNN take fp32 only; the reference (double sums, per-element reads) runs at M = 1.
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "infercost/external.hpp"
#include "support/bench_support.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 23;

struct Projection {
  std::size_t N, K;
};
constexpr Projection kProjections[] = {{2048, 2048}, {10944, 2048}, {2048, 10944}, {1408, 2048}};
constexpr std::size_t kDecodeM[] = {1, 4, 16};
constexpr std::size_t kPrefillM[] = {128, 512, 2048};

double gemm_flops(std::size_t M, Projection p) { return 2.0 * static_cast<double>(M * p.N * p.K); }
double gemm_bytes(std::size_t M, Projection p, DType dtype) {
  return static_cast<double>(p.N * p.K * size_of(dtype) + M * p.K * 4 + M * p.N * 4);
}

// The weights of the current projection and dtype, `count` copies (one filled, the rest copied):
// kept between cases, which are registered projection by projection, so the (up to 1 GiB of)
// copies are built once per projection and dtype rather than once per case and repetition.
const std::vector<Matrix>& weights(Projection p, DType dtype, std::size_t count) {
  static std::vector<Matrix> copies;
  static Projection shape{0, 0};
  static DType type = DType::f32;
  if (copies.size() != count || shape.N != p.N || shape.K != p.K || type != dtype) {
    copies.clear();
    copies.reserve(count);
    copies.push_back(random_matrix(p.N, p.K, dtype, kSeed, "w"));
    for (std::size_t i = 1; i < count; ++i) copies.push_back(copies.front());
    shape = p;
    type = dtype;
  }
  return copies;
}

void gemm_case(benchmark::State& state, const Impl<op::gemm>& impl, std::size_t M, Projection p, DType dtype,
               bool cold, int threads) {
  if (!bench::runnable_or_skip(state, impl, dtype)) return;
  const bench::Threads scope(threads);
  const std::size_t bytes_w = p.N * p.K * size_of(dtype);
  const auto& all = weights(p, dtype, cold ? bench::cold_copies(bytes_w) : 1);
  std::vector<float> x(M * p.K), y(M * p.N);
  fill_uniform(x.data(), x.size(), mix_seed(kSeed, "x"), 1.0f);
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(x.data(), M, all[next], y.data());
    benchmark::DoNotOptimize(y.data());
    next = next + 1 == all.size() ? 0 : next + 1;
  }
  bench::set_counters(state, gemm_flops(M, p), gemm_bytes(M, p, dtype), impl.name, cold ? "cold" : "warm");
}

std::string case_name(const Impl<op::gemm>& impl, DType dtype, std::size_t M, Projection p) {
  return "gemm/" + std::string(impl.name) + "/" + std::string(to_string(dtype)) + "/M:" + std::to_string(M) +
         "/N:" + std::to_string(p.N) + "/K:" + std::to_string(p.K);
}

void skip_case(benchmark::State& state, std::string reason) { state.SkipWithError(reason.c_str()); }

void register_case(const Impl<op::gemm>& impl, DType dtype, std::size_t M, Projection p, bool cold,
                   int threads = 0) {
  std::string name = case_name(impl, dtype, M, p);
  if (threads > 0) name += "/threads:" + std::to_string(threads);
  benchmark::internal::Benchmark* b;
  if (impl.name == "reference" && M > 1)
    b = benchmark::RegisterBenchmark(name.c_str(), skip_case,
                                     "reference: benched at M = 1 only (a double-precision triple loop)");
  else
    b = benchmark::RegisterBenchmark(name.c_str(), gemm_case, impl, M, p, dtype, cold, threads);
  b->UseRealTime();
}

void register_cases() {
  for (Projection p : kProjections)
    for (DType dtype : {DType::f32, DType::bf16}) {
      for (std::size_t M : kDecodeM)
        for (const auto& impl : implementations<op::gemm>()) register_case(impl, dtype, M, p, true);
      for (std::size_t M : kPrefillM) {
        if (M == 2048 && p.N * p.K > 2048 * 2048) continue;  // the FFN shapes: M = 128, 512 say enough
        for (const auto& impl : implementations<op::gemm>()) register_case(impl, dtype, M, p, false);
      }
    }
  for (const auto& impl : implementations<op::gemm>()) {
    if (impl.external || impl.name == "reference") continue;  // the libraries thread on their own
    for (int threads : {1, 2}) register_case(impl, DType::f32, 512, {2048, 2048}, false, threads);
  }
}

// Debian 12's OpenBLAS 0.3.21 does not recognise some recent CPUs (docs/benchmarking.md: a Xeon of family 6
// model 207) and falls back to its SSE3 "Prescott" kernels, 4-5x slower than it can be; it reads
// OPENBLAS_CORETYPE only when the library loads. So, when it picked a generic core and the user
// did not choose one, run this program again with the core matching the CPU's vector width,
// which makes the comparison against OpenBLAS a fair one.
void reexec_with_matching_openblas_core([[maybe_unused]] char** argv) {
#ifdef INFERCOST_HAVE_OPENBLAS
  const std::string core = openblas_core_name();
  const bool generic = core == "Prescott" || core == "Core2" || core == "Katmai" || core == "Nehalem";
  if (!generic || std::getenv("OPENBLAS_CORETYPE") != nullptr || detected_isa() < Isa::avx2) return;
  const char* wanted = detected_isa() >= Isa::avx512 ? "SkylakeX" : "Haswell";
  std::printf("OpenBLAS picked its generic '%s' kernels for this CPU: running again with OPENBLAS_CORETYPE=%s\n",
              core.c_str(), wanted);
  std::fflush(stdout);
  setenv("OPENBLAS_CORETYPE", wanted, 1);
  execv("/proc/self/exe", argv);
  std::perror("execv /proc/self/exe");  // only reached when the re-exec failed: carry on as is
#endif
}

void add_library_context() {
#ifdef INFERCOST_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_core", openblas_core_name());
#endif
#ifdef INFERCOST_HAVE_ONEDNN
  benchmark::AddCustomContext("onednn_version", onednn_version());
#endif
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) {
  infercost::reexec_with_matching_openblas_core(argv);
  infercost::add_library_context();
  return infercost::bench::run_main(argc, argv, infercost::register_cases);
}
