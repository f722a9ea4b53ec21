"""What every layer needs from the machine: the state directory, background processes, native thread
pinning, and which errors are worth a retry."""
