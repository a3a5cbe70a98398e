// Dense row-major matrices: an owning value type and non-owning views into it
// (or into packed storage owned by someone else).
#pragma once

#include <cassert>
#include <cstdint>
#include <span>
#include <vector>

namespace lwd::kernels {

template <class T>
struct ConstMatrixView {
  const T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;  // elements between the starts of consecutive rows

  ConstMatrixView() = default;
  ConstMatrixView(const T* d, std::int64_t r, std::int64_t c) : data(d), rows(r), cols(c), stride(c) {}
  ConstMatrixView(const T* d, std::int64_t r, std::int64_t c, std::int64_t s)
      : data(d), rows(r), cols(c), stride(s) {}

  const T* row(std::int64_t i) const { return data + i * stride; }
  const T& operator()(std::int64_t i, std::int64_t j) const { return data[i * stride + j]; }
  // Rows [begin, begin + count).
  ConstMatrixView row_block(std::int64_t begin, std::int64_t count) const {
    return ConstMatrixView(data + begin * stride, count, cols, stride);
  }
};

template <class T>
struct MatrixView {
  T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;

  MatrixView() = default;
  MatrixView(T* d, std::int64_t r, std::int64_t c) : data(d), rows(r), cols(c), stride(c) {}
  MatrixView(T* d, std::int64_t r, std::int64_t c, std::int64_t s) : data(d), rows(r), cols(c), stride(s) {}

  T* row(std::int64_t i) const { return data + i * stride; }
  T& operator()(std::int64_t i, std::int64_t j) const { return data[i * stride + j]; }
  operator ConstMatrixView<T>() const { return ConstMatrixView<T>(data, rows, cols, stride); }
  MatrixView row_block(std::int64_t begin, std::int64_t count) const {
    return MatrixView(data + begin * stride, count, cols, stride);
  }
};

// Owning, contiguous (stride == cols) row-major matrix.
template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols, T fill = T{})
      : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * cols), fill) {}
  Matrix(std::int64_t rows, std::int64_t cols, std::vector<T> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {
    assert(static_cast<std::int64_t>(data_.size()) == rows * cols);
  }

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t size() const { return rows_ * cols_; }
  bool empty() const { return data_.empty(); }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T* row(std::int64_t i) { return data_.data() + i * cols_; }
  const T* row(std::int64_t i) const { return data_.data() + i * cols_; }
  T& operator()(std::int64_t i, std::int64_t j) { return data_[static_cast<std::size_t>(i * cols_ + j)]; }
  const T& operator()(std::int64_t i, std::int64_t j) const {
    return data_[static_cast<std::size_t>(i * cols_ + j)];
  }
  const std::vector<T>& values() const { return data_; }
  std::vector<T>& values() { return data_; }

  MatrixView<T> view() { return MatrixView<T>(data_.data(), rows_, cols_); }
  ConstMatrixView<T> view() const { return ConstMatrixView<T>(data_.data(), rows_, cols_); }
  ConstMatrixView<T> cview() const { return view(); }

  bool operator==(const Matrix&) const = default;

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<T> data_;
};

}  // namespace lwd::kernels
