"""Run embedsearch from a checkout without installing it: ``python cli.py --help``."""
from embedsearch.cli import main

if __name__ == "__main__":
    main()
