"""Analytic cost models: pure, vectorized numpy functions of a layer table and hardware spec(s).

* :mod:`~hwsim.costs.compute`: MACs, FLOPs and the extra op counts, with the counting rules.
* :mod:`~hwsim.costs.delay`: the Von-Neumann ASIC delay model of paper Eq. 7, 8 and 9.
* :mod:`~hwsim.costs.memory`: weight storage in bits, per component.
"""
