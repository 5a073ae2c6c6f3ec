#pragma once
//! CTG_HOST_DEVICE marks functions that run on both sides (ops' elementwise functors): the
//! core stays plain C++ for host compilers, and CUDA compiles the same function for the device.
#if defined(__CUDACC__)
#define CTG_HOST_DEVICE __host__ __device__
#else
#define CTG_HOST_DEVICE
#endif
