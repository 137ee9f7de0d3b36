"""Sample labels: the one home of the task names and the label every training sample carries.

A sample's label is its task, the head that restores it (eq. 19: rain → R_dr, snow → R_ds) and,
for eq. (16), the weather it shows. A clean crop (``data.corpus.clean_fraction``) shows no weather:
it carries its stream's task plus ``NO_WEATHER`` (rain 2, snow 3), so it still trains that task's
head to leave a clean photo unchanged and is left out of the recognition loss.
"""

TASKS = ("rain", "snow")
RAIN, SNOW = 0, 1
LABELS = {"rain": RAIN, "snow": SNOW}
NO_WEATHER = 2  # added to a task's label: a crop of that task's stream without weather


def task_of(label):
    """The task (RAIN or SNOW) of a label: ints, NumPy arrays and MindSpore tensors alike."""
    return label % NO_WEATHER


def shows_weather(label):
    """True where the label is a rain or snow render, False for a clean crop."""
    return label < NO_WEATHER
