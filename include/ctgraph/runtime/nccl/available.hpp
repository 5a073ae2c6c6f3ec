#pragma once
//! CTGRAPH_NCCL: 1 where this build has NCCL >= 2.28.9 (nccl.h), else 0. Only plans with
//! collectives need NCCL; single-GPU plans build and run without it. A build may say
//! -DCTGRAPH_NCCL=0 to leave NCCL out even where it is installed (CMake does when it finds no
//! NCCL library).
#ifndef CTGRAPH_NCCL
#if __has_include(<nccl.h>)
#include <nccl.h>
#if NCCL_VERSION_CODE >= 22809
#define CTGRAPH_NCCL 1
#else
#define CTGRAPH_NCCL 0
#endif
#else
#define CTGRAPH_NCCL 0
#endif
#endif
