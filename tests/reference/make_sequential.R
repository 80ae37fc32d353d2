# Reference values for evidence.meta.sequential (issue 16 item 4): two-sided symmetric
# Lan-DeMets alpha-spending boundaries from R rpact's getDesignGroupSequential(), at its
# tightest integration tolerance (1e-10; rpact refuses smaller values), and the fixed-design
# sample size of a two-arm mean difference under the normal approximation, which is the
# required information size of trial sequential analysis for a continuous outcome.
# The information rates are written out below (no data are needed).
#   apt-get install -y r-cran-rpact r-cran-jsonlite
#   Rscript tests/reference/make_sequential.R    # writes tests/reference/sequential.json
suppressPackageStartupMessages({library(rpact); library(jsonlite)})

designs <- list(
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.05, rates = c(0.5, 1)),
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.05, rates = c(0.25, 0.5, 1)),
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.05, rates = c(0.2, 0.4, 0.6, 0.8, 1)),
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.05, rates = c(0.15, 0.18, 0.3, 0.61, 0.9, 1)),
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.01, rates = c(0.33, 0.67, 1)),
  list(kind = "obrien-fleming", type = "asOF", alpha = 0.1, rates = c(0.1, 0.5, 0.95, 1)),
  list(kind = "pocock", type = "asP", alpha = 0.05, rates = c(0.5, 1)),
  list(kind = "pocock", type = "asP", alpha = 0.05, rates = c(0.2, 0.4, 0.6, 0.8, 1)),
  list(kind = "pocock", type = "asP", alpha = 0.01, rates = c(0.15, 0.35, 0.7, 1)),
  list(kind = "pocock", type = "asP", alpha = 0.05, rates = c(0.02, 0.03, 0.5, 1))
)
tolerance <- 1e-10
cases <- lapply(designs, function(d) {
  g <- getDesignGroupSequential(kMax = length(d$rates), alpha = d$alpha, sided = 2,
                                typeOfDesign = d$type, informationRates = d$rates,
                                tolerance = tolerance)
  list(call = sprintf(paste0("getDesignGroupSequential(kMax=%d, alpha=%g, sided=2, ",
                             "typeOfDesign=\"%s\", informationRates=c(%s), tolerance=%g)"),
                      length(d$rates), d$alpha, d$type, paste(d$rates, collapse = ", "),
                      tolerance),
       kind = d$kind, alpha = d$alpha, fractions = d$rates,
       boundary = g$criticalValues, spent = g$alphaSpent)
})

means <- list(
  list(alpha = 0.05, power = 0.8, md = 5, sd = 10),
  list(alpha = 0.05, power = 0.9, md = 2.5, sd = 12),
  list(alpha = 0.01, power = 0.8, md = 0.4, sd = 1)
)
ris <- lapply(means, function(m) {
  g <- getDesignGroupSequential(kMax = 1, alpha = m$alpha, sided = 2, beta = 1 - m$power)
  s <- getSampleSizeMeans(g, alternative = m$md, stDev = m$sd, normalApproximation = TRUE,
                          allocationRatioPlanned = 1)
  list(call = sprintf(paste0("getSampleSizeMeans(getDesignGroupSequential(kMax=1, alpha=%g, ",
                             "sided=2, beta=%g), alternative=%g, stDev=%g, ",
                             "normalApproximation=TRUE)$nFixed"),
                      m$alpha, 1 - m$power, m$md, m$sd),
       alpha = m$alpha, power = m$power, mean_difference = m$md, sd = m$sd,
       participants = s$nFixed)
})

out <- list(
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  rpact = as.character(packageVersion("rpact")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  control = list(tolerance = tolerance),
  bounds = cases, ris_continuous = ris)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/sequential.json")
