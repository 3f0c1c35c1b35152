// Every implementation of op::gemm (kernels/kernels.inc) against reference::gemm, on awkward shapes
// that reach each edge of the fast kernels: M = 1..16 (the skinny path) and above (the blocked
// path, with partial micro-tiles), N and K not multiples of any vector width, K spanning several
// cache blocks, N spanning several column blocks per thread.
#include <omp.h>

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/ops/gemm.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 20261124;

struct Shape {
  std::size_t M, N, K;
};

// fp32 sums of K products against the reference's double ones: 1e-5 of the output's scale, 1e-4
// once K reaches 1000.
double tolerance(std::size_t K) { return K >= 1000 ? 1e-4 : 1e-5; }

// The relative error of `fn` against the reference on fresh random x and W (W in `dtype`: the
// reference reads the same rounded weights), with y poisoned with NaN before the call.
double error_against_reference(op::gemm::Fn* fn, Shape s, DType dtype) {
  const std::string name = std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K);
  const Matrix w = random_matrix(s.N, s.K, dtype, kSeed, "w" + name);
  const auto x = random_vector(s.M * s.K, kSeed, ("x" + name).c_str());
  auto got = poisoned(s.M * s.N), want = poisoned(s.M * s.N);
  reference::gemm(x.data(), s.M, w, want.data());
  fn(x.data(), s.M, w, got.data());
  return relative_error(got, want);
}

std::vector<Shape> awkward_shapes() {
  std::vector<Shape> shapes;
  for (std::size_t M : {1, 2, 3, 7, 16, 17, 33, 130})
    for (std::size_t N : {1, 15, 17, 31, 129, 300})
      for (std::size_t K : {1, 15, 17, 31, 129, 300}) shapes.push_back({M, N, K});
  // Long reductions over several K blocks; more rows than one block of x; more columns than one
  // block of W per thread.
  for (Shape s : {Shape{1, 67, 2100}, Shape{4, 33, 1000}, Shape{16, 40, 1001}, Shape{20, 67, 1000},
                  Shape{130, 33, 2049}, Shape{200, 40, 300}, Shape{17, 2100, 40}, Shape{1, 2100, 40}})
    shapes.push_back(s);
  return shapes;
}

class GemmImpl : public ::testing::TestWithParam<std::size_t> {
 protected:
  const Impl<op::gemm>& impl() const { return implementations<op::gemm>()[GetParam()]; }
};

TEST_P(GemmImpl, MatchesReferenceOnAwkwardShapes) {
  if (!impl().runnable())
    GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << "; this CPU runs at most "
                 << to_string(max_isa());
  for (DType dtype : {DType::f32, DType::bf16}) {
    if (!impl().dtypes.contains(dtype)) continue;  // external libraries take fp32 only
    for (Shape s : awkward_shapes())
      EXPECT_LE(error_against_reference(impl().fn, s, dtype), tolerance(s.K))
          << impl().name << " " << to_string(dtype) << " M=" << s.M << " N=" << s.N << " K=" << s.K;
  }
}

// Each y element is computed by one thread in a fixed order: 1 and 2 threads agree bit for bit.
TEST_P(GemmImpl, ResultDoesNotDependOnThreadCount) {
  if (!impl().runnable()) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa);
  if (impl().external) GTEST_SKIP() << impl().name << " is an external library: its threading is its own";
  for (Shape s : {Shape{3, 301, 257}, Shape{70, 301, 257}}) {
    const Matrix w = random_matrix(s.N, s.K, DType::f32, kSeed, "w");
    const auto x = random_vector(s.M * s.K, kSeed, "x");
    auto one = poisoned(s.M * s.N), two = poisoned(s.M * s.N);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    impl().fn(x.data(), s.M, w, one.data());
    omp_set_num_threads(2);
    impl().fn(x.data(), s.M, w, two.data());
    omp_set_num_threads(threads);
    EXPECT_EQ(one, two) << "M=" << s.M;
  }
}

TEST_P(GemmImpl, ZeroLengthReductionGivesZeros) {
  if (!impl().runnable()) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa);
  const Matrix w(5, 0, DType::f32);
  const float x[1] = {1.0f};  // never read: K = 0
  auto y = poisoned(3 * 5);
  impl().fn(x, 3, w, y.data());
  EXPECT_EQ(y, std::vector<float>(3 * 5, 0.0f));
}

INSTANTIATE_TEST_SUITE_P(AllImplementations, GemmImpl,
                         ::testing::Range<std::size_t>(0, implementations<op::gemm>().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           return std::string(implementations<op::gemm>()[param.param].name);
                         });

// The fast kernels refuse fp8 weights rather than misread them (dispatch never sends them).
TEST(GemmDispatch, FastKernelsRefuseFp8Weights) {
  const Matrix w(4, 4, DType::f8);
  std::vector<float> x(4, 1.0f), y(4);
  for (const auto& impl : implementations<op::gemm>()) {
    if (impl.runnable() && !impl.dtypes.contains(DType::f8)) {
      EXPECT_THROW(impl.fn(x.data(), 1, w, y.data()), std::invalid_argument) << impl.name;
    }
  }
}

// Capping the instruction set makes dispatch pick that level's kernel, which still matches.
TEST(GemmDispatch, CappedIsaSelectsThatLevelsKernel) {
  if (std::getenv("INFERCOST_IMPL") != nullptr) GTEST_SKIP() << "INFERCOST_IMPL is set: dispatch is forced";
  for (Isa cap : {Isa::avx2, Isa::portable}) {
    if (cap > detected_isa()) continue;
    set_max_isa(cap);
    for (DType dtype : {DType::f32, DType::bf16}) {
      const Impl<op::gemm>& chosen = selected<op::gemm>(dtype);
      EXPECT_EQ(chosen.name, to_string(cap)) << to_string(dtype);
      EXPECT_LE(error_against_reference(kernels::gemm, Shape{33, 129, 300}, dtype), 1e-5) << to_string(cap);
      EXPECT_LE(error_against_reference(kernels::gemm, Shape{1, 129, 300}, dtype), 1e-5) << to_string(cap);
    }
  }
  set_max_isa(detected_isa());
}

// Uncapped, dispatch runs the fastest level this CPU has.
TEST(GemmDispatch, UncappedSelectsTheHighestLevel) {
  if (std::getenv("INFERCOST_IMPL") != nullptr) GTEST_SKIP() << "INFERCOST_IMPL is set: dispatch is forced";
  set_max_isa(detected_isa());
  const std::string_view want = detected_isa() >= Isa::avx512 ? "avx512"
                                : detected_isa() >= Isa::avx2 ? "avx2"
                                                              : "portable";
  EXPECT_EQ(selected<op::gemm>(DType::f32).name, want);
  EXPECT_EQ(selected<op::gemm>(DType::bf16).name, want);
}

}  // namespace
}  // namespace infercost
