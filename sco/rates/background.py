"""Statements derived by this project (each with its proof in proofs_check) and recalled background results."""

from __future__ import annotations

from .bound import Bound

_EXCESS = r"\mathbb{E}[f(x_T) - f^*]"
_EST = r"\mathbb{E}\|d_t - \nabla f(x_t)\|^2"
_AGG = r"\mathbb{E}\|\hat d_t - \nabla f(x_t)\|^2"
_GRAD = r"\mathbb{E}\|\nabla f(\hat x)\|"
_R = "lam/(1 - 2*lam)"  # f/(m - 2f) when lam = f/m

BACKGROUND: tuple[Bound, ...] = (
    # -- the estimator ---------------------------------------------------------------------
    Bound(
        "mu2sgd_estimator_error", "sigma_tilde_sync**2/t", kind="upper", source="derived here; [Lev23] shape",
        provenance="derived", proof="proofs_check.storm", quantity="E||d_t - grad f(x_t)||^2", quantity_latex=_EST,
        claim="The mu^2-SGD estimate (beta_t = 1/t, alpha_t = t, d_1 = g_1, one sample at both points) has error "
              "E||d_t - grad f(x_t)||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t along AnyTime iterates.",
        assumptions="alpha_t = t; iterates in a set of diameter D",
        note="From the identity t eps_t = sum_tau (e_tau + (tau - 1) Z_tau) and ||x_tau - x_{tau-1}|| <= 2D/(tau+1) "
             "(docs/theory.md). DL24b's asynchronous constant is 32 D^2 K^2 where this has 8 D^2, from the "
             "looser 4 D tau/t (Lemma B.1). With sigma_L = 0 the error is exactly sigma^2/t."),
    Bound(
        "mu2sgd_estimator_error_mean", "sigma_tilde_sync**2/(m*t)", kind="upper",
        source="derived here; [DL24b, Thm. 4.1] in the synchronous case", provenance="derived",
        proof="proofs_check.storm", quantity="E||d_bar_t - grad f(x_t)||^2",
        quantity_latex=r"\mathbb{E}\|\bar d_t - \nabla f(x_t)\|^2",
        claim="The mean of m honest workers' mu^2-SGD estimates has error <= sigma_tilde_sync^2/(m t).",
        assumptions="synchronous; the workers' samples independent",
        note="The workers' martingale increments have zero conditional mean and are conditionally independent, "
             "so cross terms vanish (docs/theory.md). DL24b Thm. 4.1's second part is the asynchronous form "
             "sigma_tilde^2/t_G, with t_G = m t synchronously."),
    Bound(
        "mu2sgd_estimator_error_aggregated", "2*kappa*sigma_tilde_sync**2/t + 2*sigma_tilde_sync**2/((1 - delta)*m*t)",
        kind="upper", source="derived here; [DL24b, Lemma 4.1] without delays", provenance="derived",
        proof="proofs_check.storm", quantity="E||d_hat_t - grad f(x_t)||^2", quantity_latex=_AGG,
        claim="Aggregating m workers' mu^2-SGD estimates with a (delta, kappa)-robust rule keeps the 1/t decay: "
              "E||d_hat_t - grad f(x_t)||^2 <= 2 (kappa + 1/((1 - delta) m)) sigma_tilde_sync^2/t.",
        assumptions="synchronous; (delta, kappa)-robustness in expectation; |G| = (1 - delta) m honest workers",
        note="From ||u + v||^2 <= 2||u||^2 + 2||v||^2 (proofs_check.storm), the honest spread rho_t^2 <= "
             "sigma_tilde_sync^2/t and the mean bound; DL24b's asynchronous Lemma 4.1 has the same structure "
             "with constants 8 and 24 and delay terms."),
    # -- noiseless AnyTime-GD ----------------------------------------------------------------
    Bound(
        "anytime_noiseless_pep", "4*L*D**2/T", kind="upper", source="derived here [THG17, GMT+22]",
        provenance="derived", proof="proofs_check.pep_anytime", quantity="f(x_T) - f*",
        quantity_latex=r"f(x_T) - f^*",
        claim="Noiseless AnyTime-GD (alpha_t = t) with eta = 1/(4 L T) on an L-smooth convex function has "
              "f(x_T) - f* <= 4 L D^2 / T with D = ||x_1 - x*||.",
        assumptions="eta = 1/(4LT); unconstrained; x_T uses the gradients at x_1..x_{T-1}",
        note="The worst case computed by performance estimation (PEP) for T <= 8 equals 12 T/(3 T^2 + 23 T - 2) "
             "L D^2 (entry anytime_pep_value), attained by a Huber function; 4 is its supremum over T."),
    Bound(
        "anytime_pep_value", "12*L*D**2*T/(3*T**2 + 23*T - 2)", kind="exact", source="derived here [THG17, GMT+22]",
        provenance="derived", proof="proofs_check.pep_anytime", quantity="f(x_T) - f* on the PEP instance",
        quantity_latex=r"f(x_T) - f^*",
        claim="On the Huber function f(x) = (L/2) x^2 (|x| <= r), L r |x| - L r^2/2 beyond, r = D/(1 + 2 L h_T), "
              "started at x_1 = D, AnyTime-GD with eta = 1/(4LT) ends at f(x_T) - f* = 12 L D^2 T/(3T^2 + 23T - 2), "
              "the PEP worst case over L-smooth convex functions for T <= 8.",
        assumptions="eta = 1/(4LT), alpha_t = t; h_T = eta (T - 1)(3T + 2)/12 the effective step",
        note="The PEP value (an SDP, PEPit) matches the Huber value to 1e-6 for T = 1..8 in proofs_check."),
    # -- arrivals -------------------------------------------------------------------------------
    Bound(
        "count_weight_variance_ratio", "inv_p_sum/n**2", kind="exact", source="derived here; motivates [DL24b, §4.1]",
        provenance="derived", proof="proofs_check.count_weights", quantity="Var_uniform / Var_counts",
        quantity_latex=r"\mathrm{Var}_{\mathrm{uniform}} / \mathrm{Var}_{\mathrm{counts}}",
        claim="When worker i's estimate has variance sigma^2/(p_i t) (no staleness, no Byzantine workers), uniform "
              "weights give (1/n^2) sum_i 1/p_i >= 1 times the variance of count weights, with equality iff "
              "arrivals are uniform.",
        assumptions="the variance model of [DL24b, Thm. 4.1] (error ~ 1/s_i); asymptotic in t",
        note="Exact under that model (AM-HM); finite counts add terms of order 1/(p_min t). Pass the vector p or "
             "the scalars n and inv_p_sum."),
    Bound(
        "iid_arrival_staleness", "n/(1 - lam) - 1", kind="exact", source="derived here",
        provenance="derived", proof="proofs_check.staleness", quantity="mean staleness of delivered honest messages",
        quantity_latex=r"\mathbb{E}[\text{staleness}]",
        claim="With iid arrivals (an honest step w.p. 1 - lam, then worker i w.p. p_i), a delivered honest "
              "message is n/(1 - lam) - 1 steps stale on average over deliveries, whatever the p_i.",
        assumptions="sco's protocol (a worker computes at x_{t+1} after arriving at t): staleness = gap - 1, the "
                    "gap Geometric((1 - lam) p_i); ignores the warm-up",
        note="DL24b's delay of the same message is one more (the worker is sent x_t before the step)."),
    # -- robustness coefficients ----------------------------------------------------------------
    Bound(
        "ctma_kappa", "8*lam/(1 - lam)*(1 + lam/(1 - lam)*kappa_base)", kind="upper", source="derived here",
        provenance="derived", proof="proofs_check.ctma", quantity="kappa of (w-)CTMA",
        quantity_latex=r"\kappa_{\mathrm{CTMA}}",
        claim="(Weighted) CTMA on an anchor of robustness kappa_A is robust with kappa <= 8q(1 + q kappa_A), "
              "q = lam/(1 - lam), instance-wise: O(lam) for any O(1) anchor.",
        assumptions="the honest weight exactly (1 - lam) S; instance-wise (deterministic inputs)",
        note="Tighter than DL24b Lemma 3.1's 60 lam (1 + c_lam) for lam <= 1/2; checked on random and adversarial "
             "instances in proofs_check.ctma."),
    Bound(
        "cwmed_exact_sup", "1/(1 - 2*lam)", kind="exact", source="derived here (Cantelli's inequality)",
        provenance="derived", proof="proofs_check.median_sup", quantity="sup of the w-CWMed ratio",
        quantity_latex=r"\sup \|\mathrm{CWMed} - \bar x_G\|^2/\rho^2",
        claim="The supremum over weighted inputs of ||w-CWMed(x) - x_bar_G||^2/rho^2 with Byzantine weight "
              "share lam is 1/(1 - 2 lam) = 1 + 2 lam/(1 - 2 lam), approached by a two-point honest "
              "distribution, per coordinate and hence overall.",
        assumptions="instance-wise; the supremum is approached, not attained",
        note="Below DL24b Lemma C.3's printed (1 + lam/(1 - 2 lam))^2 for every lam in (0, 1/2)."),
    Bound(
        "w_gm_kappa_classical", f"4*(1 + {_R})**2", kind="upper", source="derived here; [AFG+23, Table 1]",
        provenance="derived", proof="proofs_check.geometric_median", quantity="c_lam of w-GM",
        quantity_latex=r"c_\lambda(\omega\text{-GM})",
        claim="The weighted geometric median has c_lam <= 4(1 + lam/(1 - 2 lam))^2 (optimality plus the triangle "
              "inequality, then Jensen).",
        assumptions="lam < 1/2; the exact weighted geometric median",
        note="The classical argument: (S_G - S_B) ||x_hat - x_bar_G|| <= 2 sum_G s_i ||x_i - x_bar_G||; a factor 4 "
             "above DL24b Lemma C.1's printed constant."),
    Bound(
        "robustness_lower", f"{_R}", kind="lower", source="derived here; [AFG+23] (recalled)",
        provenance="derived", proof="proofs_check.lower_bound", quantity="worst-case ratio of any aggregator",
        quantity_latex=r"\sup R(A)",
        claim="No aggregator is robust with a coefficient below lam/(1 - 2 lam) = f/(m - 2f): two honest sets it "
              "cannot tell apart force one of the two ratios up to that.",
        assumptions="f Byzantine rows out of m, lam = f/m (unweighted)",
        note="The indistinguishable instance of sco.robustness proves it; [AFG+23]'s statement was not read."),
    Bound(
        "cwtm_kappa", f"6*{_R}*(1 + {_R})", kind="upper", source="[AFG+23, Table 1] (recalled)",
        provenance="recalled", quantity="kappa of CWTM", quantity_latex=r"\kappa_{\mathrm{CWTM}}",
        claim="The coordinate-wise trimmed mean is (f, kappa)-robust with kappa = 6 r (1 + r), r = f/(m - 2f).",
        assumptions="m > 2f", note="Recalled, not checked against [AFG+23]'s text; read with r = lam/(1 - 2 lam)."),
    Bound(
        "cwmed_kappa", f"4*(1 + {_R})**2", kind="upper", source="[AFG+23, Table 1] (recalled)",
        provenance="recalled", quantity="kappa of CWMed", quantity_latex=r"\kappa_{\mathrm{CWMed}}",
        claim="The coordinate-wise median is (f, kappa)-robust with kappa = 4 (1 + f/(m - 2f))^2.",
        assumptions="m > 2f", note="Recalled; DL24b Lemma C.3 prints (1 + lam/(1 - 2 lam))^2 for the weighted rule."),
    Bound(
        "krum_kappa", f"6*(1 + {_R})", kind="upper", source="[AFG+23, Table 1] (recalled)",
        provenance="recalled", quantity="kappa of Krum", quantity_latex=r"\kappa_{\mathrm{Krum}}",
        claim="Krum is (f, kappa)-robust with kappa = 6 (1 + f/(m - 2f)).",
        assumptions="m > 2f + 2; m - f - 2 neighbours", note="Recalled, not checked against [AFG+23]'s text."),
    Bound(
        "nnm_kappa", "8*lam/(1 - lam)*(kappa_base + 1)", kind="upper", source="[AFG+23, NNM theorem] (recalled)",
        provenance="recalled", quantity="kappa of A after NNM", quantity_latex=r"\kappa_{A\circ\mathrm{NNM}}",
        claim="Nearest-neighbour mixing before a (f, kappa)-robust rule gives kappa' <= 8f/(m - f) (kappa + 1).",
        assumptions="m > 2f", note="Recalled: theorem number and constant not checked."),
    # -- recalled background rates -----------------------------------------------------------------
    Bound(
        "heterogeneity_floor", "kappa*zeta**2 + kappa*sigma_tilde_sync**2/t + sigma_tilde_sync**2/(m*t)",
        kind="shape", source="[KHJ22] (recalled)", provenance="recalled", quantity="E||d_hat_t - grad f(x_t)||^2",
        quantity_latex=_AGG,
        claim="With heterogeneous honest workers (spread zeta^2), a (delta, kappa)-robust aggregate keeps an error "
              "floor kappa zeta^2 that does not vanish as t grows.",
        note="The floor's lower bound Omega(delta zeta^2) is recalled from [KHJ22]; constants unknown."),
    Bound(
        "heterogeneity_floor_lower", "delta*zeta**2", kind="lower", source="[KHJ22] (recalled)",
        provenance="recalled", quantity="E||d_hat_t - grad f(x_t)||^2", quantity_latex=_AGG,
        claim="With heterogeneous honest workers, no robust aggregate can beat an error of order delta zeta^2: "
              "the floor does not vanish as t grows (slope >= 0 in t).",
        note="The lower bound Omega(delta zeta^2) of [KHJ22] as recalled; its constant is not used."),
    Bound(
        "sgd_smooth_convex", "L*D**2/T + sigma*D/sqrt(T)", kind="shape", source="[Bub15, §6.2] (recalled)",
        provenance="recalled", quantity="E[f(x_bar_T) - f*]", quantity_latex=_EXCESS,
        claim="Averaged projected SGD on an L-smooth convex problem with a step tuned to T and sigma reaches excess "
              "loss O(L D^2/T + sigma D/sqrt(T)).",
        note="Recalled; test exponents only."),
    Bound(
        "storm_nonconvex", "sqrt(L*Delta/T) + (sigma*L*Delta)**(1/3)/T**(1/3)", kind="shape",
        source="[CO19, abstract]", provenance="recalled", quantity="E||grad f(x_hat)||", quantity_latex=_GRAD,
        claim="STORM finds a point with E||grad f|| = O(1/sqrt(T) + sigma^(1/3)/T^(1/3)) on smooth nonconvex "
              "problems.",
        note="The T and sigma exponents are those of [CO19]'s abstract; the L and Delta factors are chosen here "
             "for dimensional consistency; log factors dropped."),
    Bound(
        "sgd_nonconvex", "sqrt(L*Delta/T) + (sigma**2*L*Delta/T)**(1/4)", kind="shape",
        source="[GL13]; quoted in [CO19, §1]", provenance="recalled", quantity="E||grad f(x_hat)||",
        quantity_latex=_GRAD,
        claim="SGD with a tuned step finds E||grad f|| = O(sqrt(L Delta/T) + (sigma^2 L Delta/T)^(1/4)) on smooth "
              "nonconvex problems: slope -1/4 in T with noise.",
        note="The T^(-1/4) rate as [CO19]'s introduction quotes [GL13]; constants not checked."),
)
