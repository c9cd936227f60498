"""One module per rule feature; importing this package registers them all.

| key          | module         | what it does                                              |
|--------------|----------------|-----------------------------------------------------------|
| ``valid``    | validity.py    | the rule applies only to events within its dates          |
| ``when``     | condition.py   | a safe condition on the event's fields                    |
| ``cooldown`` | cooldown.py    | not again for the same holder within N hours              |
| ``points``   | points.py      | fixed, per unit (per hour), or a range the reviewer picks |
| ``multiplier`` | multiplier.py | × a factor by an attribute, such as the household tier   |
| ``repeat``   | repeat.py      | × a factor when repeated within a window                  |
| ``exclusive``| exclusive.py   | only the highest rule of a group counts for one event     |
| ``caps``     | caps.py        | at most N points per day … year or in total (rule, category) |
| ``floor``    | floor.py       | a category's deductions stop at its base (扣完为止)        |
| ``approval`` | approval.py    | needs review, notice days, which roles may enter it       |
| ``veto``     | veto.py        | one-vote veto (一票否决): bars a grade this period        |
"""

from scoring.rules import (  # noqa: F401  (each import registers its feature)
    approval,
    caps,
    condition,
    cooldown,
    exclusive,
    floor,
    multiplier,
    points,
    repeat,
    validity,
    veto,
)
