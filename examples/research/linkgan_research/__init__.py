"""The lab of linkgan-plugin: the project's own experiments and their reports (examples/research/README.md).

Every experiment is built on the product's public Python API (`linkgan_plugin`); the product never imports this
package. `linkgan-research --help` lists the experiments.
"""
