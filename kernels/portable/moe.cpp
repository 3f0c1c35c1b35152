// DeepSeekMoE with grouped experts, as a serving engine runs it: one router GEMM over all T tokens,
// the tokens sorted by the expert they chose, then ONE SwiGLU FFN per selected expert over all of
// its tokens (so an expert's weights are read once per call, and a decode step reads only the
// selected experts'), the shared experts over all tokens, and a gate-weighted scatter-add.
// Semantics: reference::moe and reference::route (kernels/reference/moe.cpp).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <vector>

#include "infercost/kernels.hpp"
#include "scratch.hpp"

namespace infercost::grouped {

namespace {

void check_router(const MoeWeights& w, const MoeConfig& config) {
  validate(config);
  const auto n = static_cast<std::size_t>(config.n_routed_experts);
  if (w.router.rows() != n || !(w.bias.empty() || w.bias.size() == n) || w.routed.size() != n)
    throw ConfigError(fmt::format("router has {} rows, bias {} values and {} routed experts: all must be "
                                  "n_routed_experts = {} (the bias may also be empty)",
                                  w.router.rows(), w.bias.size(), w.routed.size(), n));
}

// Router logits -> scores s, in place over n values, computed as reference::route does (double
// exponentials, float scores) so that both select the same experts.
void scores_from_logits(float* s, std::size_t n, RouterKind kind) {
  if (kind == RouterKind::softmax) {
    const float max = *std::max_element(s, s + n);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(s[i]) - max);
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<float>(std::exp(static_cast<double>(s[i]) - max) / sum);
  } else {
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(s[i]))));
  }
}

// The k best of `candidates` by descending key, best first; equal keys go to the lower index.
void top_k(const std::vector<double>& key, std::vector<int>& candidates, int k) {
  const auto better = [&](int a, int b) { return key[a] != key[b] ? key[a] > key[b] : a < b; };
  std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end(), better);
  candidates.resize(static_cast<std::size_t>(k));
}

// Keeps in `candidates` only the experts of the topk_group best groups; a group's score is its best
// key (softmax router) or the sum of its two best keys (sigmoid router).
void keep_best_groups(const std::vector<double>& key, const MoeConfig& config, std::vector<int>& candidates) {
  const int per_group = config.experts_per_group();
  const int summed = config.router == RouterKind::softmax ? 1 : 2;
  std::vector<double> group_score(static_cast<std::size_t>(config.n_group)), members;
  for (int g = 0; g < config.n_group; ++g) {
    members.assign(key.begin() + g * per_group, key.begin() + (g + 1) * per_group);
    std::partial_sort(members.begin(), members.begin() + summed, members.end(), std::greater<>());
    group_score[static_cast<std::size_t>(g)] = std::accumulate(members.begin(), members.begin() + summed, 0.0);
  }
  std::vector<int> groups(static_cast<std::size_t>(config.n_group));
  std::iota(groups.begin(), groups.end(), 0);
  top_k(group_score, groups, config.topk_group);
  candidates.clear();
  for (int g : groups)
    for (int i = 0; i < per_group; ++i) candidates.push_back(g * per_group + i);
}

// The selected experts of one token and their gates, from its scores s [n_routed].
void select(const float* s, const MoeWeights& w, const MoeConfig& config, int* experts, float* gates) {
  const std::size_t n = w.router.rows();
  std::vector<double> key(s, s + n);  // what selection ranks: s + b
  for (std::size_t i = 0; i < w.bias.size(); ++i) key[i] += w.bias[i];
  std::vector<int> candidates(n);
  std::iota(candidates.begin(), candidates.end(), 0);
  if (config.n_group > 1) keep_best_groups(key, config, candidates);
  top_k(key, candidates, config.top_k);
  double sum = 0.0;
  for (int e : candidates) sum += s[e];
  const double scale = config.routed_scaling_factor / (config.norm_topk_prob ? sum : 1.0);
  for (std::size_t j = 0; j < candidates.size(); ++j) {
    experts[j] = candidates[j];
    gates[j] = static_cast<float>(s[candidates[j]] * scale);
  }
}

// Every (token, expert) assignment sorted by expert: the tokens of expert e are
// token[begin[e] .. begin[e+1]), with their gates alongside.
struct Assignments {
  std::vector<std::size_t> begin;  // [n_routed + 1]
  std::vector<std::size_t> token;  // [T * top_k]
  std::vector<float> gate;         // [T * top_k]
};

Assignments route_all(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config) {
  const std::size_t n = w.router.rows(), k = static_cast<std::size_t>(config.top_k);
  Scratch scores(T * n);
  kernels::gemm(x, T, w.router, scores.data());  // all tokens' router logits in one GEMM
  std::vector<int> experts(T * k);
  std::vector<float> gates(T * k);
  for (std::size_t t = 0; t < T; ++t) {
    scores_from_logits(scores.data() + t * n, n, config.router);
    select(scores.data() + t * n, w, config, &experts[t * k], &gates[t * k]);
  }
  // Counting sort by expert, tokens in ascending order within each expert.
  Assignments a{std::vector<std::size_t>(n + 1, 0), std::vector<std::size_t>(T * k), std::vector<float>(T * k)};
  for (int e : experts) ++a.begin[static_cast<std::size_t>(e) + 1];
  std::partial_sum(a.begin.begin(), a.begin.end(), a.begin.begin());
  std::vector<std::size_t> next(a.begin.begin(), a.begin.end() - 1);
  for (std::size_t i = 0; i < T * k; ++i) {
    const std::size_t slot = next[static_cast<std::size_t>(experts[i])]++;
    a.token[slot] = i / k;
    a.gate[slot] = gates[i];
  }
  return a;
}

// One expert's work: `count` tokens (token[0..count) of an Assignments, or every token in order when
// token is null) through `expert`, each output scaled by its gate (1 for a shared expert).
struct ExpertJob {
  const SwigluWeights* expert;
  const std::size_t* token;
  const float* gate;
  std::size_t count;
};

std::vector<ExpertJob> jobs_of(std::size_t T, const MoeWeights& w, const Assignments& a) {
  std::vector<ExpertJob> jobs;
  for (const SwigluWeights& e : w.shared) jobs.push_back({&e, nullptr, nullptr, T});
  for (std::size_t e = 0; e < w.routed.size(); ++e) {
    const std::size_t first = a.begin[e], count = a.begin[e + 1] - first;
    // An expert no token chose is never read. One that has every token has them in order (as in a
    // decode step): it reads x as it is, without a gather.
    if (count == 0) continue;
    jobs.push_back({&w.routed[e], count == T ? nullptr : &a.token[first], &a.gate[first], count});
  }
  return jobs;
}

// acc[token] += gate · expert(x[token]) over the job's tokens. rows, out: [count, d] scratch.
void run_job(const ExpertJob& job, const float* x, std::size_t d, float* rows, float* out, float* acc) {
  const float* input = x;
  if (job.token != nullptr) {
    for (std::size_t j = 0; j < job.count; ++j) std::memcpy(rows + j * d, x + job.token[j] * d, d * sizeof(float));
    input = rows;
  }
  kernels::swiglu_ffn(input, job.count, *job.expert, out);
  for (std::size_t j = 0; j < job.count; ++j) {
    float* dst = acc + (job.token != nullptr ? job.token[j] : j) * d;
    const float* src = out + j * d;
    const float gate = job.gate != nullptr ? job.gate[j] : 1.0f;
    for (std::size_t i = 0; i < d; ++i) dst[i] += gate * src[i];
  }
}

// Up to this many tokens, every expert's FFN is a memory-bound GEMV-like pass over its weights:
// the experts then run side by side, one per thread (each GEMM inside on its thread alone), so a
// decode step pays one fork/join instead of three per expert. Beyond it, each expert's GEMMs are
// compute-bound and parallel inside, and the experts run one after the other.
constexpr std::size_t kExpertParallelTokens = 16;

// The experts side by side, handed out to whichever thread is free (on a shared machine a thread
// that lost its core must not hold the others up). Each expert accumulates into its own [T, d]
// slice, summed in expert order, so the result does not depend on which thread ran what.
void run_jobs_in_parallel(const std::vector<ExpertJob>& jobs, const float* x, std::size_t T, std::size_t d,
                          float* y) {
  const std::size_t slice = T * d;
  Scratch partial(jobs.size() * slice);
  std::memset(partial.data(), 0, jobs.size() * slice * sizeof(float));
  const auto count = static_cast<long long>(jobs.size());
#pragma omp parallel
  {
    Scratch rows(slice), out(slice);
#pragma omp for schedule(dynamic, 1)
    for (long long j = 0; j < count; ++j) {
      const auto job = static_cast<std::size_t>(j);
      run_job(jobs[job], x, d, rows.data(), out.data(), partial.data() + job * slice);
    }
  }
  std::memset(y, 0, slice * sizeof(float));
  for (std::size_t j = 0; j < jobs.size(); ++j)
    for (std::size_t i = 0; i < slice; ++i) y[i] += partial.data()[j * slice + i];
}

void run_jobs_in_turn(const std::vector<ExpertJob>& jobs, const float* x, std::size_t T, std::size_t d, float* y) {
  std::size_t most_tokens = 0;
  for (const ExpertJob& job : jobs) most_tokens = std::max(most_tokens, job.count);
  Scratch rows(most_tokens * d), out(most_tokens * d);
  std::memset(y, 0, T * d * sizeof(float));
  for (const ExpertJob& job : jobs) run_job(job, x, d, rows.data(), out.data(), y);
}

}  // namespace

// x, y: [T, d] (not aliased); w.router: [n_routed, d]; every expert [inter, d] / [d, inter].
void moe(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config, float* y) {
  check_router(w, config);
  if (T == 0) return;
  const std::size_t d = w.router.cols();
  const Assignments a = route_all(x, T, w, config);
  const std::vector<ExpertJob> jobs = jobs_of(T, w, a);
  if (T <= kExpertParallelTokens && !omp_in_parallel())
    run_jobs_in_parallel(jobs, x, T, d, y);
  else
    run_jobs_in_turn(jobs, x, T, d, y);
}

}  // namespace infercost::grouped
