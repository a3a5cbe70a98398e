// The seccomp filter of the model sandbox (engine/model/sandbox.h): which
// system calls a sandboxed program may not make. docs/DESIGN.md, "Model
// sandbox", lists them and says why a deny-list.
#pragma once

#include <string>

namespace lwd {

// The filter as a classic BPF program (struct sock_filter[], as bytes) for
// the architecture the dock runs on, built with libseccomp on first use and
// kept. Throws lwd::Error when libseccomp cannot build it.
const std::string& sandbox_syscall_filter();

}  // namespace lwd
