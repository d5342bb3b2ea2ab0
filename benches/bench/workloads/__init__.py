"""Workloads by name. To add one: a Workload subclass in its own module, registered here,
and its queries as benches/queries/<name>/*.sql."""
from .dml import Dml
from .engines import Engines
from .events import Events
from .tpch import Tpch

WORKLOADS = {w.name: w for w in (Events, Tpch, Engines, Dml)}
