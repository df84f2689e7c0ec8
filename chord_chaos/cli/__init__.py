"""The ``chord-chaos`` command: argument parsing, input loading, progress display, exit codes."""
