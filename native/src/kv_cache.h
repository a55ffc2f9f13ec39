// The KV cache as the engine sees it: the sequence operations it performs (KvCache), and an exact model
// of llama.cpp's unified cell pool (KvLedger) kept in step with every one of them.
//
// Why a model of the cells
// ------------------------
// All sequences share one pool of n_ctx cells (kv_unified). A cell has ONE position and a SET of
// sequences: llama_memory_seq_cp does not copy data, it adds the destination sequence to the source's
// cells. That makes prefix sharing free, and it has two consequences the engine must know about:
//   - memory: how many cells are in use, and how many dropping some idle sequences would free, decide
//     admission and preemption (llama.cpp has no API for either);
//   - shifting: llama_memory_seq_add moves a cell's position for EVERY sequence holding it. Chunk reuse
//     that shifted cells shared with another sequence silently moved that sequence's positions too; its
//     next decode then failed llama.cpp's position check ("inconsistent sequence positions", decode
//     -1), and every batch with it failed: the "internal" errors seen under load with cancels. The
//     planner (kv_reuse.h) now asks shared() and never moves a shared cell.
// The ledger also records each cell's token, so tests can check that every sequence holds exactly the
// tokens the engine believes it holds (native/tests/kv_reuse_test.cpp uses it as the fake KV cache).
#pragma once
#include <bitset>
#include <cstdint>
#include <map>
#include <vector>

namespace pronto {

using Token = int32_t;  // llama_token

// Sequence operations, with llama.cpp's semantics (p1 < 0: to the end).
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual void seq_rm(int seq, int p0, int p1) = 0;
  virtual void seq_cp(int src, int dst, int p0, int p1) = 0;
  virtual void seq_add(int seq, int p0, int p1, int delta) = 0;
};

class KvLedger : public KvCache {
 public:
  static constexpr int kMaxSeqs = 128;
  explicit KvLedger(int n_cells = 0) : n_cells_(n_cells) {}

  // A decode stored `token` at `pos` of `seq` in a new cell.
  void added(int seq, int pos, Token token);
  void seq_rm(int seq, int p0, int p1) override;
  void seq_cp(int src, int dst, int p0, int p1) override;
  void seq_add(int seq, int p0, int p1, int delta) override;
  void clear();

  int size() const { return n_cells_; }
  int used() const { return used_; }
  int free() const { return n_cells_ - used_; }
  // Cells held by no sequence outside `seqs`: what removing all of `seqs` would free.
  int exclusive_cells(const std::vector<int>& seqs) const;
  // Whether a cell of `seq` with a position in [p0, p1) is also held by another sequence.
  bool shared(int seq, int p0, int p1) const;
  // The other sequences holding a cell of `seq` with a position in [p0, p1).
  std::vector<int> sharers(int seq, int p0, int p1) const;
  // Position -> token of every cell of `seq` (tests and invariant checks).
  std::map<int, Token> contents(int seq) const;

 private:
  struct Cell {
    int pos = 0;
    Token token = 0;
    std::bitset<kMaxSeqs> seqs;
  };
  std::vector<int> cells_of(int seq, int p0, int p1) const;
  void release(int cell);

  int n_cells_;
  int used_ = 0;
  std::vector<Cell> cells_;
  std::vector<int> free_list_;
  std::map<int, std::map<int, int>> by_seq_;  // seq -> pos -> cell
};

}  // namespace pronto
