/*  kie_internal.h — shared by kie.c (requests, responses) and
    kie_classify.c (the error classes and the classifier). Not part of the
    KIE interface (kie.h).
*/
#ifndef GENBOT_KIE_INTERNAL_H
#define GENBOT_KIE_INTERNAL_H

#include "kie.h"

//  --- kie_classify.c ------------------------------------------------------------
bool kiei_contains(const char *haystack, const char *needle);

#endif
