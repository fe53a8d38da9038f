"""Running everything on one machine: moto's server for AWS, the X stand-in for X."""
