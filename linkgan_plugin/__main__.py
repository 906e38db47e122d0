"""`python -m linkgan_plugin` is the same as the `linkgan` command."""

from linkgan_plugin.cli import main

if __name__ == '__main__':
    main()
