"""A user's scoring function for `edge measure --score`: relayed truth judged against truth."""


def same_words(truth, value):
    return sum(a == b for a, b in zip(truth.strings, value.strings)), len(truth.strings)
