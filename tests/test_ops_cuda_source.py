"""The CUDA sources compile, even on a machine without a GPU.

1. `nvcc -c` of the raw-pointer kernels for sm_80 and sm_90 (sm_70 is gone from CUDA 13), when nvcc exists, with
   every warning an error; ptxas reports no register spill in any kernel (their launch bounds are sized for it),
   and the kernel parameters (MaskedDiffArgs, read in place as __grid_constant__) stay under the 4 KB limit.
2. The torch binding (`masked_diff_cuda.cpp`), which a CPU-only torch cannot link, is syntax-checked with the
   host compiler against torch's headers and the CUDA runtime headers. A CPU torch lacks one generated header
   (`c10/cuda/impl/cuda_cmake_macros.h`), which an empty stub stands in for.
The runtime behaviour on a GPU is covered by the 'cuda' cases of test_ops_masked_diff.py.
"""

import os
import re
import shutil
import subprocess

import pytest
import torch

from linkgan_plugin.ops import build

NVCC = shutil.which('nvcc')


def cuda_include_dir():
    candidates = [os.environ.get('CUDA_HOME', ''), os.environ.get('CUDA_PATH', ''), '/usr/local/cuda']
    if NVCC:
        candidates.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(NVCC))))
    for root in candidates:
        if root and os.path.isfile(os.path.join(root, 'include', 'cuda_runtime_api.h')):
            return os.path.join(root, 'include')
    return None


@pytest.mark.skipif(NVCC is None, reason='nvcc not found')
@pytest.mark.parametrize('arch', ['sm_80', 'sm_90'])
def test_kernels_compile_with_nvcc(arch, tmp_path):
    src = os.path.join(build.source_dir(), 'masked_diff_kernel.cu')
    obj = tmp_path / f'masked_diff_kernel_{arch}.o'
    # The half-precision macros are the ones torch's JIT build passes to nvcc: the kernels must not rely on
    # implicit __half / __nv_bfloat16 operators or conversions.
    torch_like = ['-D__CUDA_NO_HALF_OPERATORS__', '-D__CUDA_NO_HALF_CONVERSIONS__', '-D__CUDA_NO_BFLOAT16_CONVERSIONS__',
                  '-D__CUDA_NO_HALF2_OPERATORS__', '--expt-relaxed-constexpr']
    out = subprocess.run([NVCC, '-c', f'-arch={arch}', '-O3', '-std=c++17', '-Werror', 'all-warnings', '-Xptxas', '-v',
                          *torch_like, src, '-o', str(obj)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert obj.stat().st_size > 0
    report = out.stdout + out.stderr
    kernels = re.findall(r"Compiling entry function '(\w+)'", report)
    assert any('masked_diff_fwd_kernel' in k for k in kernels) and any('masked_diff_bwd_kernel' in k for k in kernels)
    spills = [int(n) for n in re.findall(r'(\d+) bytes spill stores', report)]
    assert len(spills) == len(kernels) and not any(spills), report
    params = [int(n) for n in re.findall(r'(\d+) bytes cmem\[0\]', report)]
    assert all(n < 4096 for n in params), params
    symbols = subprocess.run(['nm', '-C', str(obj)], capture_output=True, text=True).stdout if shutil.which('nm') else ''
    if symbols:
        assert 'linkgan::masked_diff_fwd_cuda' in symbols and 'linkgan::masked_diff_bwd_cuda' in symbols


@pytest.mark.skipif(NVCC is None or cuda_include_dir() is None, reason='nvcc / CUDA headers not found')
def test_torch_binding_parses(tmp_path):
    torch_include = os.path.join(os.path.dirname(torch.__file__), 'include')
    stub_dir = tmp_path / 'stub'
    if not os.path.isfile(os.path.join(torch_include, 'c10', 'cuda', 'impl', 'cuda_cmake_macros.h')):
        (stub_dir / 'c10' / 'cuda' / 'impl').mkdir(parents=True)
        (stub_dir / 'c10' / 'cuda' / 'impl' / 'cuda_cmake_macros.h').write_text('#pragma once\n')
    cxx = os.environ.get('CXX', 'c++')
    src_dir = build.source_dir()
    out = subprocess.run([cxx, '-std=c++20', '-fsyntax-only', '-Wall', f'-I{stub_dir}', f'-I{torch_include}',
                          f'-I{os.path.join(torch_include, "torch", "csrc", "api", "include")}', f'-I{cuda_include_dir()}',
                          f'-I{src_dir}', os.path.join(src_dir, 'masked_diff_cuda.cpp')],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    assert 'masked_diff_cuda.cpp' not in out.stderr, out.stderr[-4000:]  # No warnings in our own file.
