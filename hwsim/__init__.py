"""hwsim: hardware cost modeling for conditionally trained, adversarially robust networks."""

__version__ = "0.1.0"
