#include "kv_cache.h"

#include <climits>
#include <stdexcept>
#include <string>
#include <utility>

namespace pronto {

static int end_of(int p1) { return p1 < 0 ? INT_MAX : p1; }

static void check_seq(int seq) {
  if (seq < 0 || seq >= KvLedger::kMaxSeqs) throw std::out_of_range("sequence id " + std::to_string(seq));
}

void KvLedger::added(int seq, int pos, Token token) {
  check_seq(seq);
  int cell;
  if (!free_list_.empty()) {
    cell = free_list_.back();
    free_list_.pop_back();
  } else {
    cell = static_cast<int>(cells_.size());
    cells_.emplace_back();
  }
  Cell& c = cells_[cell];
  c.pos = pos;
  c.token = token;
  c.seqs.reset();
  c.seqs.set(seq);
  auto& positions = by_seq_[seq];
  if (auto old = positions.find(pos); old != positions.end()) {  // llama.cpp would hold both; we replace
    cells_[old->second].seqs.reset(seq);
    if (cells_[old->second].seqs.none()) release(old->second);
  }
  positions[pos] = cell;
  used_++;
}

void KvLedger::release(int cell) {
  free_list_.push_back(cell);
  used_--;
}

std::vector<int> KvLedger::cells_of(int seq, int p0, int p1) const {
  std::vector<int> out;
  auto it = by_seq_.find(seq);
  if (it == by_seq_.end()) return out;
  for (auto p = it->second.lower_bound(p0 < 0 ? 0 : p0); p != it->second.end() && p->first < end_of(p1); ++p)
    out.push_back(p->second);
  return out;
}

void KvLedger::seq_rm(int seq, int p0, int p1) {
  if (seq < 0) {  // every sequence
    std::vector<int> seqs;
    for (auto& [s, _] : by_seq_) seqs.push_back(s);
    for (int s : seqs) seq_rm(s, p0, p1);
    return;
  }
  auto it = by_seq_.find(seq);
  if (it == by_seq_.end()) return;
  for (int cell : cells_of(seq, p0, p1)) {
    it->second.erase(cells_[cell].pos);
    cells_[cell].seqs.reset(seq);
    if (cells_[cell].seqs.none()) release(cell);
  }
  if (it->second.empty()) by_seq_.erase(it);
}

void KvLedger::seq_cp(int src, int dst, int p0, int p1) {
  check_seq(dst);
  if (src == dst) return;
  for (int cell : cells_of(src, p0, p1)) {
    auto& positions = by_seq_[dst];
    const int pos = cells_[cell].pos;
    if (auto old = positions.find(pos); old != positions.end() && old->second != cell) {
      cells_[old->second].seqs.reset(dst);
      if (cells_[old->second].seqs.none()) release(old->second);
    }
    cells_[cell].seqs.set(dst);
    positions[pos] = cell;
  }
}

void KvLedger::seq_add(int seq, int p0, int p1, int delta) {
  if (delta == 0) return;
  // As in llama.cpp: the cell's position moves for every sequence holding it; a position below 0
  // removes the cell.
  const std::vector<int> moved = cells_of(seq, p0, p1);
  for (int cell : moved)
    for (int s = 0; s < kMaxSeqs; s++)
      if (cells_[cell].seqs.test(s)) by_seq_[s].erase(cells_[cell].pos);
  for (int cell : moved) {
    Cell& c = cells_[cell];
    c.pos += delta;
    if (c.pos < 0) {
      c.seqs.reset();
      release(cell);
      continue;
    }
    for (int s = 0; s < kMaxSeqs; s++)
      if (c.seqs.test(s)) by_seq_[s][c.pos] = cell;
  }
  for (auto it = by_seq_.begin(); it != by_seq_.end();) it = it->second.empty() ? by_seq_.erase(it) : std::next(it);
}

void KvLedger::clear() {
  cells_.clear();
  free_list_.clear();
  by_seq_.clear();
  used_ = 0;
}

int KvLedger::exclusive_cells(const std::vector<int>& seqs) const {
  std::bitset<kMaxSeqs> mask;
  for (int s : seqs) mask.set(s);
  std::vector<bool> seen(cells_.size(), false);
  int n = 0;
  for (int s : seqs) {
    auto it = by_seq_.find(s);
    if (it == by_seq_.end()) continue;
    for (auto& [pos, cell] : it->second) {
      if (seen[cell]) continue;
      seen[cell] = true;
      if ((cells_[cell].seqs & ~mask).none()) n++;
    }
  }
  return n;
}

bool KvLedger::shared(int seq, int p0, int p1) const {
  for (int cell : cells_of(seq, p0, p1))
    if (cells_[cell].seqs.count() > 1) return true;
  return false;
}

std::vector<int> KvLedger::sharers(int seq, int p0, int p1) const {
  std::bitset<kMaxSeqs> others;
  for (int cell : cells_of(seq, p0, p1)) others |= cells_[cell].seqs;
  std::vector<int> out;
  for (int i = 0; i < kMaxSeqs; i++)
    if (i != seq && others.test(i)) out.push_back(i);
  return out;
}

std::map<int, Token> KvLedger::contents(int seq) const {
  std::map<int, Token> out;
  for (int cell : cells_of(seq, 0, -1)) out[cells_[cell].pos] = cells_[cell].token;
  return out;
}

}  // namespace pronto
