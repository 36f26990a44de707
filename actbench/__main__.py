"""``python -m actbench ...`` (and ``accelerate launch -m actbench train ...``) is the ``actbench`` command."""

from actbench.cli import main

if __name__ == "__main__":
    main()
