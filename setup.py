"""Installs linkgan-plugin: the LinkGAN regularizer as a loss plugin for StyleGAN2-ADA, StyleGAN3 and EG3D.

Build time imports nothing beyond setuptools (torch is a run-time dependency only). The kernel sources in
`cuda_ops/` and the upstream patches in `patches/` ship inside the package (`linkgan_plugin/_cuda_ops/`,
`_patches/`), so a non-editable install can still JIT-build and patch.
"""

import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithKernelSources(build_py):
    """Copies `cuda_ops/` and `patches/` into the built package as `linkgan_plugin/_cuda_ops/` and `_patches/`."""

    def run(self):
        super().run()
        for name in ('cuda_ops', 'patches'):
            src = os.path.join(HERE, name)
            dst = os.path.join(self.build_lib, 'linkgan_plugin', '_' + name)
            if os.path.isdir(src):
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('*.o', '__pycache__'))


with open(os.path.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='linkgan-plugin',
    version='0.1.0',
    description='LinkGAN (ICCV 2023): link latent axes to image regions, as a loss plugin for StyleGAN2-ADA, StyleGAN3 and EG3D',
    long_description=long_description,
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['linkgan_plugin', 'linkgan_plugin.*']),
    package_data={'linkgan_plugin': ['demo/assets/*.pt', 'view/static/*']},
    cmdclass={'build_py': BuildPyWithKernelSources},
    install_requires=[
        'torch>=2.1,<2.14',     # 2.1: Tensor.const_data_ptr / mutable_data_ptr, used by the kernels' bindings
        'numpy',
        'click>=8.0',
        'ninja',
        'pillow',
    ],
    extras_require={'test': ['pytest>=7'], 'view-test': ['pytest>=7', 'selenium>=4.10']},
    entry_points={'console_scripts': ['linkgan=linkgan_plugin.cli:main']},
)
