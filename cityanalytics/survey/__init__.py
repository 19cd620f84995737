"""Sample surveys (市民满意度): design-based estimates from the ``survey_responses`` table.

    from cityanalytics.survey import satisfaction_index, wave_change, option_shares
    index = satisfaction_index(responses, "Q1")
    change = wave_change(index, "2024H1", "2024H2")
"""

from cityanalytics.survey.design import Design, Estimate, domain_mean, linearised_variance, ratio, total
from cityanalytics.survey.satisfaction import (LIKERT_5, as_indicator_frame, option_shares, satisfaction_index, scored,
                                               wave_change)

__all__ = ["Design", "Estimate", "domain_mean", "linearised_variance", "ratio", "total", "LIKERT_5",
           "option_shares", "as_indicator_frame", "satisfaction_index", "scored", "wave_change"]
