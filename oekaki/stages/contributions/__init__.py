"""Stage `contributions`: the accepted contributions frozen into a DVC-versioned snapshot."""
