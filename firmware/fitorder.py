# Crossed hoses: the fit check times each chamber to 10 mmHg (sequencer.fit_ms). A board file
# may state the garment's chamber sizes (garment.chamber_ml, foot first); a bigger chamber then
# takes longer to firm up. A chamber stated clearly bigger that filled clearly faster than a
# smaller one means its valve feeds another chamber: a warning, naming the two. Only the
# ratios count. It cannot see crossed hoses between chambers of about the same size, nor a
# garment whose stated sizes are wrong; a leg that fills a chamber unusually may also trip it.
import limits as L

FIT_NORMAL = 1      # sequencer.FIT_NORMAL: only chambers that passed the fit check count

TEXT = ("hoses crossed? chamber %d (stated %d mL) filled to 10 mmHg in %d ms, chamber %d "
        "(stated %d mL) in %d ms: check that each valve's hose goes to its own chamber, "
        "foot to thigh")


def crossed(fit_ms, fit_class, sizes_ml):
    """The pair (small, big), 1-based, whose fit times most clearly contradict the stated
    sizes: big stated FIT_ORDER_SIZE_PCT % of small or more, yet small took FIT_ORDER_TIME_PCT
    % of big's time or more. (0, 0) when none does."""
    n = len(sizes_ml)
    small = big = 0
    worst_num, worst_den = 0, 1
    for i in range(n):              # i: the chamber stated bigger
        if fit_class[i] != FIT_NORMAL or fit_ms[i] <= 0:
            continue
        for j in range(n):          # j: the chamber stated smaller
            if fit_class[j] != FIT_NORMAL or \
                    sizes_ml[i] * 100 < sizes_ml[j] * L.FIT_ORDER_SIZE_PCT:
                continue
            if fit_ms[j] * 100 >= fit_ms[i] * L.FIT_ORDER_TIME_PCT and \
                    fit_ms[j] * worst_den > worst_num * fit_ms[i]:
                worst_num, worst_den = fit_ms[j], fit_ms[i]
                small, big = j + 1, i + 1
    return small, big


def warning(fit_ms, small, big, sizes_ml):
    return TEXT % (big, sizes_ml[big - 1], fit_ms[big - 1], small, sizes_ml[small - 1],
                   fit_ms[small - 1])
