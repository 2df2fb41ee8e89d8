"""Operating-system plumbing, on Linux, macOS and Windows: ports, CPU limits, child processes tied to the kernel,
the address a person opens, and how to write a command for where the user is. Standard library only (and one
another of these modules): nothing of the server or the workbook."""
