# metafor reference values of the Mantel-Haenszel and Peto methods for 2x2 tables (issue 13
# item 5; tests/test_mh_peto.py): rma.mh (measure OR, RR, RD) and rma.peto.
#
#   Rscript tests/reference/make_mh_peto.R
#
# Writes mh_peto.json next to this script. Both methods are closed forms: no convergence
# control applies (recorded as such in the "control" block). Needs r-cran-metafor,
# r-cran-metadat, r-cran-jsonlite (Debian 12: R 4.2.2, metafor 3.8-1, metadat 1.2-0).
#
# Data: metadat's dat.bcg (13 trials, no zero cells), dat.nielweise2007 (18 trials, zero
# cells and one double-zero trial), dat.yusuf1985 table 6 (Peto's own beta-blocker overview:
# 22 rows, one with missing counts, three double-zero trials), and small synthetic tables
# written out below (k = 1, k = 2 with a double-zero table, every table double-zero).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script) == 1L) dirname(normalizePath(script)) else "tests/reference"

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  metafor = packageDescription("metafor")$Version,
  metadat = packageDescription("metadat")$Version,
  jsonlite = packageDescription("jsonlite")$Version
)

num <- function(x) {
  # numbers with a parallel "special" list where a value is NA/NaN/Inf
  x <- as.numeric(x)
  x
}
special <- function(x) {
  x <- as.numeric(x)
  ifelse(is.nan(x), "NaN", ifelse(is.na(x), "NA", ifelse(is.infinite(x),
         ifelse(x > 0, "Inf", "-Inf"), "")))
}

tab <- function(name, source, ai, bi, ci, di, labels = NULL) {
  list(name = name, source = source, ai = I(as.numeric(ai)), bi = I(as.numeric(bi)),
       ci = I(as.numeric(ci)), di = I(as.numeric(di)),
       labels = if (is.null(labels)) NULL else I(as.character(labels)))
}

bcg <- dat.bcg
niel <- dat.nielweise2007
yus <- dat.yusuf1985[dat.yusuf1985$table == "6", ]
datasets <- list(
  tab("bcg", "metadat::dat.bcg (tpos, tneg, cpos, cneg)", bcg$tpos, bcg$tneg, bcg$cpos,
      bcg$cneg, paste(bcg$author, bcg$year)),
  tab("nielweise2007", "metadat::dat.nielweise2007 (ai, n1i - ai, ci, n2i - ci)", niel$ai,
      niel$n1i - niel$ai, niel$ci, niel$n2i - niel$ci, paste(niel$author, niel$year)),
  tab("yusuf1985_table6", "metadat::dat.yusuf1985[table == '6'] (ai, n1i - ai, ci, n2i - ci)",
      yus$ai, yus$n1i - yus$ai, yus$ci, yus$n2i - yus$ci, yus$trial),
  # synthetic, written out (not data of any study)
  tab("k1", "synthetic: one table", 5, 10, 3, 12),
  tab("k2_one00", "synthetic: two tables, the first double-zero", c(0, 3), c(4, 5), c(0, 1),
      c(12, 4)),
  tab("small_dev", "synthetic: |sum(O - E)| < 1/2 (continuity correction overshoots)",
      c(2, 3), c(8, 7), c(3, 2), c(7, 8)),
  tab("all00", "synthetic: every table double-zero", c(0, 0), c(10, 5), c(0, 0), c(12, 4))
)
names(datasets) <- vapply(datasets, `[[`, "", "name")

fields <- function(r, fun, measure) {
  out <- list(
    k = r$k, k_yi = r$k.yi,
    estimate = as.numeric(r$beta), se = r$se, stat = r$zval, pvalue = r$pval,
    ci_low = r$ci.lb, ci_high = r$ci.ub,
    q = r$QE, q_df = r$k.yi - 1, q_pvalue = r$QEp, i2 = r$I2, h2 = r$H2,
    weights = I(as.numeric(weights(r)) / 100),
    yi = I(num(r$yi.f)), yi_special = I(special(r$yi.f)),
    vi = I(num(r$vi.f)), vi_special = I(special(r$vi.f))
  )
  out$q_df <- max(r$k.yi - 1, 0)
  if (fun == "rma.mh" && measure == "OR") {
    out$cmh <- r$MH; out$cmh_pvalue <- r$MHp
    out$cmh_cochran <- r$CO; out$cmh_cochran_pvalue <- r$COp
    out$breslow_day <- r$BD; out$breslow_day_pvalue <- r$BDp
    out$tarone <- r$TA; out$tarone_pvalue <- r$TAp
    out$tarone_df <- r$k.pos - 1
  }
  out
}

run <- function(ds, fun, measure = "OR", add = 1/2, to = "only0", drop00 = TRUE,
                correct = TRUE, level = 95) {
  d <- datasets[[ds]]
  opts <- list(add = add, to = to, drop00 = drop00, level = level)
  if (fun == "rma.mh") opts <- c(list(measure = measure), opts, list(correct = correct))
  call <- sprintf("%s(ai, bi, ci, di, %s)", fun, paste(
    names(opts), vapply(opts, function(v) if (is.character(v)) sprintf("\"%s\"", v)
                        else format(v), ""), sep = "=", collapse = ", "))
  warn <- character(0)
  r <- tryCatch(withCallingHandlers(
    do.call(fun, c(list(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di), opts)),
    warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") }),
    error = function(e) e)
  case <- list(dataset = ds, fun = fun, measure = if (fun == "rma.peto") "OR" else measure,
               add = add, to = to, drop00 = drop00, correct = correct, level = level,
               call = call)
  if (inherits(r, "error")) {
    case$error <- conditionMessage(r)
  } else {
    case$result <- fields(r, fun, case$measure)
    if (is.na(case$result$estimate)) case$note_estimate <- "NA (not estimable)"
  }
  if (length(warn)) case$note <- I(warn)
  case
}

cases <- list()
add_case <- function(...) cases[[length(cases) + 1L]] <<- run(...)
for (ds in c("bcg", "nielweise2007", "yusuf1985_table6")) {
  for (m in c("OR", "RR", "RD")) add_case(ds, "rma.mh", m)
  add_case(ds, "rma.peto")
}
# add / to / drop00 / level / correct variations on the zero-cell data
for (m in c("OR", "RR", "RD")) {
  add_case("nielweise2007", "rma.mh", m, drop00 = FALSE)
  add_case("nielweise2007", "rma.mh", m, to = "all")
  add_case("nielweise2007", "rma.mh", m, add = 0.25)
  add_case("nielweise2007", "rma.mh", m, to = "if0all", add = 1)
  add_case("nielweise2007", "rma.mh", m, to = "none")
}
add_case("nielweise2007", "rma.mh", "OR", correct = FALSE)
add_case("nielweise2007", "rma.mh", "OR", level = 90)
add_case("yusuf1985_table6", "rma.mh", "OR", drop00 = FALSE, to = "all")
add_case("nielweise2007", "rma.peto", drop00 = FALSE)
add_case("nielweise2007", "rma.peto", to = "all")
add_case("nielweise2007", "rma.peto", add = 0.25, level = 90)
add_case("nielweise2007", "rma.peto", to = "none")
add_case("yusuf1985_table6", "rma.peto", drop00 = FALSE)
# edges
for (ds in c("k1", "k2_one00", "small_dev", "all00")) {
  for (m in c("OR", "RR", "RD")) add_case(ds, "rma.mh", m)
  add_case(ds, "rma.peto")
}
add_case("small_dev", "rma.mh", "OR", correct = FALSE)

out <- list(
  versions = versions,
  control = list(note = "closed forms (rma.mh, rma.peto): no convergence settings apply"),
  defaults = list(add = 0.5, to = "only0", drop00 = TRUE, correct = TRUE, level = 95),
  datasets = datasets,
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE),
           file.path(out_dir, "mh_peto.json"))
cat(sprintf("wrote %d cases to %s\n", length(cases), file.path(out_dir, "mh_peto.json")))
