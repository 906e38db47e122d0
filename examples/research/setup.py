"""Installs the lab of linkgan-plugin (`linkgan_research`, command `linkgan-research`): the project's own experiments,
built only on the product's public Python API. It is not part of the linkgan-plugin wheel.

    pip install -e examples/research          # from the checkout, after installing linkgan-plugin itself
"""

from setuptools import find_packages, setup

setup(
    name='linkgan-research',
    version='0.1.0',
    description="linkgan-plugin's lab: recipe studies, Table 2, the EG3D linkage study, the inversion study, "
                'baseline convergence and the rebuilders of the shipped assets',
    python_requires='>=3.9',
    packages=find_packages(include=['linkgan_research', 'linkgan_research.*']),
    install_requires=['linkgan-plugin'],
    extras_require={'test': ['pytest>=7']},
    entry_points={'console_scripts': ['linkgan-research=linkgan_research.cli:main']},
)
