"""What each estimator's API page shows above its docstring: the formula and its reference.

``docs/gen_pages.py`` writes ``FORMULAS[name]`` under the heading of ``ev.<name>``;
``tests/test_docs.py`` checks that every name of ``ESTIMATORS`` has a formula, a reference
and an ``Examples`` section in its docstring. Notation: effect sizes $y_i$ with sampling
variances $v_i$, $i = 1..k$; $\\tau^2$ the between-study variance.
"""

ESTIMATORS = ("meta", "meta_batch", "metareg", "subgroup", "meta_mh", "meta_peto",
              "meta_mv", "vcalc", "robust", "escalc", "egger_test", "trimfill",
              "leave_one_out", "influence", "cumulative", "rho_sensitivity")

_RE = r"""
$$
w_i = \frac{1}{v_i + \hat\tau^2}, \qquad
\hat\mu = \frac{\sum_i w_i y_i}{\sum_i w_i}, \qquad
\operatorname{SE}(\hat\mu) = \Big(\sum_i w_i\Big)^{-1/2}
$$

with $\hat\tau^2 = 0$ for the fixed-effect model. DerSimonian-Laird:
$\hat\tau^2 = \max\{0, (Q - (k-1)) / (\sum w_i - \sum w_i^2 / \sum w_i)\}$ with
$w_i = 1/v_i$ and $Q = \sum_i w_i (y_i - \hat\mu_{FE})^2$. REML maximises the restricted
log-likelihood $-\tfrac12 \sum_i \log(v_i + \tau^2) - \tfrac12 \log \sum_i w_i
- \tfrac12 \sum_i w_i (y_i - \hat\mu)^2$ over $\tau^2 \ge 0$ (ML drops the middle term).
Heterogeneity $I^2 = 100\% \cdot \hat\tau^2 / (\hat\tau^2 + \tilde v)$ with the typical
variance $\tilde v = (k-1)\sum w_i / ((\sum w_i)^2 - \sum w_i^2)$; prediction interval
$\hat\mu \pm z_{1-\alpha/2} \sqrt{\operatorname{SE}^2 + \hat\tau^2}$ (with `test="knha"`,
$t_{k-1}$ and the Hartung-Knapp variance
$\sum w_i (y_i - \hat\mu)^2 / ((k-1)\sum w_i)$).
"""

FORMULAS: dict[str, tuple[str, str]] = {
    "meta": (_RE, "DerSimonian R, Laird N. Control Clin Trials 1986;7:177-88; Viechtbauer W. "
                  "J Educ Behav Stat 2005;30:261-93; Higgins JPT, Thompson SG. Stat Med "
                  "2002;21:1539-58; Hartung J, Knapp G. Stat Med 2001;20:3875-89."),
    "meta_batch": (_RE + "\nThe same model fitted to every group at once (one vectorised "
                         "pass per iteration over all groups).\n",
                   "As `ev.meta`; Viechtbauer W. J Stat Softw 2010;36(3):1-48 (metafor)."),
    "metareg": (r"""
$$
y_i = x_i^\top \beta + u_i + \varepsilon_i, \quad u_i \sim N(0, \tau^2), \quad
\varepsilon_i \sim N(0, v_i), \qquad
\hat\beta = (X^\top W X)^{-1} X^\top W y, \quad W = \operatorname{diag}(1/(v_i + \hat\tau^2))
$$

$\operatorname{Var}(\hat\beta) = (X^\top W X)^{-1}$; the omnibus test
$Q_M = \hat\beta_{[-1]}^\top \operatorname{Var}(\hat\beta_{[-1]})^{-1} \hat\beta_{[-1]}$
($\chi^2_{p-1}$, or $F$ with `test="knha"`); $R^2$ is the proportional reduction of
$\hat\tau^2$ against the model without moderators.
""", "Berkey CS et al. Stat Med 1995;14:395-411; Raudenbush SW. In: The Handbook of Research "
     "Synthesis and Meta-Analysis, 2nd ed. 2009:295-315."),
    "subgroup": (r"""
One model per subgroup $g$ (its own $\hat\tau^2_g$), then the test for subgroup differences
$Q_{\text{between}} = \sum_g w_g (\hat\mu_g - \bar\mu)^2$, $w_g = 1/\operatorname{SE}(\hat\mu_g)^2$,
$\bar\mu = \sum_g w_g \hat\mu_g / \sum_g w_g$, referred to $\chi^2_{G-1}$.
""", "Borenstein M, Higgins JPT. Prev Sci 2013;14:134-43; Cochrane Handbook 10.11.3."),
    "meta_mh": (r"""
$$
\widehat{OR}_{MH} = \frac{\sum_i a_i d_i / n_i}{\sum_i b_i c_i / n_i}, \qquad
\widehat{RR}_{MH} = \frac{\sum_i a_i (c_i + d_i) / n_i}{\sum_i c_i (a_i + b_i) / n_i}, \qquad
\widehat{RD}_{MH} = \frac{\sum_i (a_i d_i - b_i c_i) / n_i}{\sum_i (a_i+b_i)(c_i+d_i)/n_i}
$$

with the Robins-Breslow-Greenland variance of $\log \widehat{OR}_{MH}$, the
Greenland-Robins variance of $\log \widehat{RR}_{MH}$ and the Sato-Greenland-Robins variance
of $\widehat{RD}_{MH}$ (as metafor's `rma.mh`).
""", "Mantel N, Haenszel W. J Natl Cancer Inst 1959;22:719-48; Robins J, Breslow N, "
     "Greenland S. Biometrics 1986;42:311-23; Greenland S, Robins JM. Biometrics "
     "1985;41:55-68; Sato T, Greenland S, Robins JM. Biometrics 1989;45:1323-4."),
    "meta_peto": (r"""
$$
\log \widehat{OR}_{\text{Peto}} = \frac{\sum_i (a_i - E_i)}{\sum_i V_i}, \quad
E_i = \frac{(a_i+b_i)(a_i+c_i)}{n_i}, \quad
V_i = \frac{(a_i+b_i)(c_i+d_i)(a_i+c_i)(b_i+d_i)}{n_i^2 (n_i - 1)}, \quad
\operatorname{SE} = \Big(\sum_i V_i\Big)^{-1/2}
$$
""", "Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Prog Cardiovasc Dis 1985;27:335-71."),
    "meta_mv": (r"""
$$
y = X\beta + \sum_\ell Z_\ell u_\ell + \varepsilon, \quad
u_\ell \sim N(0, \sigma^2_\ell I), \quad \varepsilon \sim N(0, V), \qquad
M = V + \sum_\ell \sigma^2_\ell Z_\ell Z_\ell^\top
$$

$\hat\beta = (X^\top M^{-1} X)^{-1} X^\top M^{-1} y$ with the $\sigma^2_\ell$ maximising the
(restricted) log-likelihood; $M$ is block-diagonal by outermost cluster, which the fit
exploits. Profile-likelihood CIs of each $\sigma^2_\ell$; $Q_E = (y - X\hat\beta)^\top
V^{-1}(y - X\hat\beta)$ (residual heterogeneity, $\chi^2_{k-p}$).
""", "Konstantopoulos S. Res Synth Methods 2011;2:61-76; Viechtbauer W. J Stat Softw "
     "2010;36(3):1-48."),
    "vcalc": (r"""
$$
V_{ij} = \rho \sqrt{v_i v_j} \quad (i \ne j \text{ in the same cluster}), \qquad V_{ii} = v_i,
\qquad V_{ij} = 0 \text{ across clusters}
$$

The "correlated and hierarchical effects" working model: $\rho$ is an assumption, stated
and varied (`ev.rho_sensitivity`).
""", "Pustejovsky JE, Tipton E. Prev Sci 2022;23:425-38."),
    "robust": (r"""
$$
\widehat{\operatorname{Var}}_{CR2}(\hat\beta) = B \Big(\sum_j X_j^\top W_j A_j e_j e_j^\top
A_j^\top W_j X_j\Big) B, \qquad B = (X^\top W X)^{-1}
$$

for the working weights $W = M^{-1}$ of the fit and the residuals $e_j$ of cluster $j$;
$A_j$ are the CR2 adjustment matrices ($A_j = (I - H_{jj})^{-1/2}$ when $W = I$; in general
as Tipton and Pustejovsky define them for the working model). Satterthwaite degrees of
freedom for each coefficient, as clubSandwich's `coef_test(vcov = "CR2")`.
""", "Bell RM, McCaffrey DF. Surv Methodol 2002;28:169-81; Tipton E. Psychol Methods "
     "2015;20:375-93; Pustejovsky JE, Tipton E. J Bus Econ Stat 2018;36:672-83."),
    "escalc": (r"""
Two-arm counts $a, b$ (events, non-events in group 1) and $c, d$ (group 2):
$\log RR = \log\frac{a/(a+b)}{c/(c+d)}$ with $v = \frac1a - \frac1{a+b} + \frac1c - \frac1{c+d}$;
$\log OR = \log\frac{ad}{bc}$ with $v = \frac1a + \frac1b + \frac1c + \frac1d$;
$RD = \frac{a}{a+b} - \frac{c}{c+d}$. Means: $MD = \bar x_1 - \bar x_2$ with
$v = s_1^2/n_1 + s_2^2/n_2$; $SMD = J \cdot (\bar x_1 - \bar x_2)/s_p$ (Hedges' $g$,
$J$ the exact bias correction) with
$v = 1/n_1 + 1/n_2 + SMD^2/(2(n_1+n_2))$. Measures, names and signs as metafor's `escalc()`.
""", "Hedges LV. J Educ Stat 1981;6:107-28; Viechtbauer W. J Stat Softw 2010;36(3):1-48; "
     "Becker BJ. Br J Math Stat Psychol 1988;41:257-78 (standardised mean change)."),
    "egger_test": (r"""
Weighted regression of $y_i$ on its standard error, $y_i = \beta_0 + \beta_1
\sqrt{v_i} + \varepsilon_i$ with weights $1/v_i$ (`model="lm"`, as metafor's `regtest`
with `model="lm"`), or the corresponding meta-regression (`model="rma"`); the test of
$\beta_1 = 0$ is the test of funnel-plot asymmetry.
""", "Egger M, Davey Smith G, Schneider M, Minder C. BMJ 1997;315:629-34; Sterne JAC, Egger "
     "M. In: Publication Bias in Meta-Analysis. Wiley 2005:99-110."),
    "trimfill": (r"""
The $L_0$ (or $R_0$) estimator of the number of missing studies from the ranks of
$|y_i - \hat\mu|$ on the side with fewer studies, iterated with the fitted model; the
missing studies are imputed as mirror images about $\hat\mu$ and the model refitted.
""", "Duval S, Tweedie R. Biometrics 2000;56:455-63; Duval S, Tweedie R. J Am Stat Assoc "
     "2000;95:89-98."),
    "leave_one_out": (r"""
For each $i$ the model fitted to the $k - 1$ studies without $i$: $\hat\mu_{(-i)}$,
its CI, $\hat\tau^2_{(-i)}$, $I^2_{(-i)}$ and $Q_{(-i)}$.
""", "Viechtbauer W, Cheung MW-L. Res Synth Methods 2010;1:112-25."),
    "influence": (r"""
Externally standardised residuals $(y_i - \hat\mu_{(-i)}) / \sqrt{v_i + \hat\tau^2_{(-i)} +
\operatorname{SE}(\hat\mu_{(-i)})^2}$, DFFITS, Cook's distances, covariance ratios, the
leave-one-out $\hat\tau^2$ and $Q$, hat values and weights, as metafor's `influence()`.
""", "Viechtbauer W, Cheung MW-L. Res Synth Methods 2010;1:112-25; Belsley DA, Kuh E, "
     "Welsch RE. Regression Diagnostics. Wiley 1980."),
    "cumulative": (r"""
The model refitted on the first $j = 1..k$ studies in the given order (e.g. publication
year): $\hat\mu_{1..j}$, its CI and $\hat\tau^2_{1..j}$.
""", "Lau J et al. N Engl J Med 1992;327:248-54."),
    "rho_sensitivity": (r"""
`ev.meta_mv` refitted with $V(\rho)$ from `ev.vcalc` for every assumed $\rho$ of a grid,
so the dependence of the estimate, its SE and the variance components on the assumption is
shown.
""", "Pustejovsky JE, Tipton E. Prev Sci 2022;23:425-38."),
}


def formula_block(name: str) -> str:
    """The Markdown under ``ev.<name>``'s heading (empty for a name that is not an
    estimator)."""
    if name not in FORMULAS:
        return ""
    formula, ref = FORMULAS[name]
    return ("!!! note \"Formula\"\n" + "".join(f"    {ln}\n" if ln else "\n"
                                                  for ln in formula.strip("\n").split("\n"))
            + f"\n    **Reference.** {ref}\n")
