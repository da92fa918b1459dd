"""The sync engine: pull dispositions in, push agency changes out, record every run."""
