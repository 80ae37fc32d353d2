"""Risk of bias (RoB 2, ROBINS-I, ROBINS-I V2) and certainty of evidence.

Pure functions on judgement labels and weights: no records, no I/O, no rendering.
"""

from .rob import (JUDGEMENTS, ROB2_DOMAINS, ROBINS_I_DOMAINS, ROBINS_I_V2_DOMAINS, TOOLS,
                  rob_overall, rob_shares)
from .rob2 import (ROB2_QUESTIONS, DomainAssessment, RobAssessment, assess_rob, rob2_domain,
                   rob2_rule)

__all__ = ["rob_overall", "rob_shares", "JUDGEMENTS", "TOOLS", "ROB2_DOMAINS",
           "ROBINS_I_DOMAINS", "ROBINS_I_V2_DOMAINS", "rob2_domain", "rob2_rule",
           "ROB2_QUESTIONS", "assess_rob", "RobAssessment", "DomainAssessment"]
