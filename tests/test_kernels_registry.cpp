// The registry (kernels/registry.cpp over kernels/kernels.inc): list order, forcing by name (the
// parser INFERCOST_IMPL goes through), and that comparison libraries are never picked unasked.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "infercost/kernels.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

// Restores the unforced, uncapped state whatever a test did. A run with INFERCOST_IMPL set skips
// these tests: they would clear the user's choice for the tests that follow.
class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("INFERCOST_IMPL") != nullptr) GTEST_SKIP() << "INFERCOST_IMPL is set: dispatch is forced";
  }
  void TearDown() override {
    if (std::getenv("INFERCOST_IMPL") != nullptr) return;
    force_implementations("");
    set_max_isa(detected_isa());
  }
};

template <class F>
void for_each_operator(F f) {
  f(op::gemm{}), f(op::attention_prefill{}), f(op::attention_decode{}), f(op::mla_prefill{});
  f(op::mla_decode{}), f(op::swiglu_ffn{}), f(op::moe{}), f(op::rmsnorm{}), f(op::rope{}), f(op::swiglu{});
}

std::string message_of(std::string_view spec) {
  try {
    force_implementations(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(Registry, ReferenceIsLastInEveryList) {
  for_each_operator([]<class Op>(Op) {
    const auto list = implementations<Op>();
    ASSERT_FALSE(list.empty()) << Op::name;
    EXPECT_EQ(list.back().name, "reference") << Op::name;
    EXPECT_FALSE(list.back().external) << Op::name;
  });
}

TEST_F(Registry, ExternalLibrariesAreNeverSelectedUnasked) {
  for_each_operator([]<class Op>(Op) {
    for (DType dtype : {DType::f32, DType::bf16, DType::f8}) {
      bool any = false;
      for (const auto& impl : implementations<Op>()) any = any || impl.dtypes.contains(dtype);
      if (any) {
        EXPECT_FALSE(selected<Op>(dtype).external) << Op::name << " " << to_string(dtype);
      }
    }
  });
}

TEST_F(Registry, UnknownImplementationErrorNamesOperatorImplementationAndChoices) {
  const std::string message = message_of("gemm=no_such_kernel");
  EXPECT_NE(message.find("no_such_kernel"), std::string::npos) << message;
  EXPECT_NE(message.find("gemm"), std::string::npos) << message;
  EXPECT_NE(message.find("reference"), std::string::npos) << message;  // lists the known ones
}

TEST_F(Registry, UnknownOperatorErrorNamesIt) {
  const std::string message = message_of("gemv=avx2");
  EXPECT_NE(message.find("gemv"), std::string::npos) << message;
  EXPECT_NE(message.find("attention_decode"), std::string::npos) << message;  // lists the operators
}

TEST_F(Registry, MalformedItemIsRefused) {
  EXPECT_NE(message_of("gemm").find("operator=implementation"), std::string::npos);
}

TEST_F(Registry, ForcedImplementationIsSelectedAndClearing) {
  force_implementations("gemm=reference,attention_prefill=reference");
  EXPECT_EQ(selected<op::gemm>().name, "reference");
  EXPECT_EQ(selected<op::gemm>(DType::bf16).name, "reference");
  force_implementations("");
  EXPECT_NE(selected<op::gemm>().name, "reference");  // a fast one is listed for every CPU
}

TEST_F(Registry, ForcedExternalIsSelectedButRefusesOtherDtypes) {
  for (const auto& impl : implementations<op::gemm>()) {
    if (!impl.external) continue;
    force_implementations("gemm=" + std::string(impl.name));
    EXPECT_EQ(selected<op::gemm>(DType::f32).name, impl.name);
    EXPECT_THROW(selected<op::gemm>(DType::bf16), std::runtime_error) << impl.name;
  }
}

TEST_F(Registry, ForcedImplementationAboveTheIsaCapIsAnError) {
  set_max_isa(Isa::portable);
  if (detected_isa() < Isa::avx2) GTEST_SKIP() << "this CPU has no AVX2 to cap";
  force_implementations("gemm=avx2");
  try {
    selected<op::gemm>();
    ADD_FAILURE() << "gemm=avx2 ran under a portable cap";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("avx2"), std::string::npos) << e.what();
  }
}

TEST_F(Registry, IsaCapMovesDispatchDown) {
  if (detected_isa() < Isa::avx2) GTEST_SKIP() << "this CPU has no AVX2";
  set_max_isa(Isa::avx2);
  EXPECT_EQ(selected<op::gemm>().name, "avx2");
  set_max_isa(Isa::portable);
  EXPECT_EQ(selected<op::gemm>().name, "portable");
}

}  // namespace
}  // namespace infercost
