/*  i18n_en.c — every text in English. The placeholders of each entry are
    the same as in i18n_ru.c (test_i18n checks):

      T_WELCOME_NEW {1} name {2} free credits    T_WELCOME_BACK {1} name {2} balance
      T_SUPPORT {1} contact                      T_PAYSUPPORT {1} contact
      T_FLOOD {1} seconds                        S_DATE {1} day {2} month {3} year {4} hh:mm
      T_ASK_PHOTO / T_PHOTO_TOO_BIG {1} MB       T_ASK_PRODUCT / T_ASK_PROMPT {1} characters
      T_TOO_LONG {1} got {2} allowed             T_ASK_COUNT {1} price of one video
      T_NO_CREDITS {1} shortfall                 T_CONFIRM {1} model {2} template {3} product
                                                   {4} wishes/prompt line {5} videos {6} cost
                                                   {7} balance after
      T_ACCEPTED {1} videos                      T_TOO_MANY_ACTIVE {1} generations
      T_STATUS {1} job {2} state                 S_ST_PROGRESS {1} percent
      S_ST_RETRY_* {1} attempt {2} of            T_RESULT* / T_FAIL_* {1} job {2} refund line
      T_REFUNDED {1} credits                     T_HISTORY {1} lines; T_HISTORY_LINE {1} mark
                                                   {2} job {3} template {4} date
      T_JOB {1} job {2} state {3} template {4} model {5} date {6} product line
      T_ACCOUNT {1} balance {2} held             T_ENTRY_LINE {1} delta {2} reason {3} date
      T_BUY_LINE {1} credits {2} stars           B_COUNT {1} keycap {2} videos {3} price
*/
#include "i18n.h"

// clang-format off
const char *const i18n_table_en[I18N_COUNT_] = {
    //  --- everyone ---
    [I18N_T_WELCOME_NEW] =
        "👋 Hi, {1}!\n"
        "\n"
        "I turn a product photo and a few words about it into short vertical videos for Reels, "
        "Shorts and TikTok.\n"
        "\n"
        "🎁 Here are <b>{2}</b> to try it right now.",
    [I18N_T_WELCOME_BACK] =
        "👋 Welcome back, {1}!\n"
        "Your balance: <b>{2}</b>.",
    [I18N_T_MENU] =
        "🏠 <b>Main menu</b>\n"
        "\n"
        "What shall we do?",
    [I18N_T_HELP] =
        "ℹ️ <b>How it works</b>\n"
        "1. 🎬 Create video → product photo → description → template → count.\n"
        "2. Confirm the order: a generation takes 1 to 30 minutes.\n"
        "3. The video arrives in this chat. If it fails, your credits come back.\n"
        "\n"
        "<b>Commands</b>\n"
        "/start — start and open the menu\n"
        "/menu — main menu\n"
        "/balance — balance\n"
        "/buy — top up\n"
        "/history — my generations\n"
        "/cancel — leave the current step\n"
        "/lang — language\n"
        "/support — support\n"
        "/paysupport — payment questions\n"
        "/terms — terms",
    [I18N_T_SUPPORT] =
        "🆘 <b>Support</b>\n"
        "\n"
        "Write to us: {1}\n"
        "Tell us what happened and add the generation number (#…) if it is about one.",
    [I18N_T_SUPPORT_NONE] =
        "🆘 <b>Support</b>\n"
        "\n"
        "If something went wrong, start over with /start. Credits for failed generations come "
        "back to your balance automatically.",
    [I18N_T_PAYSUPPORT] =
        "💳 <b>Payment questions</b>\n"
        "\n"
        "Credits arrive right after payment, exactly once per payment. If they did not arrive "
        "or you need a refund, write {1} and attach the receipt.",
    [I18N_T_TERMS] =
        "📜 <b>Terms</b>\n"
        "\n"
        "• Credits are bought in advance and spent on generations: the price of a video is "
        "shown on the buttons.\n"
        "• If a generation fails, its credits return to your balance automatically.\n"
        "• Do not upload photos of people without their consent or material that breaks the "
        "generation service's rules.\n"
        "• You may use the finished videos in your own posts and ads.\n"
        "• Payment questions: /paysupport.",
    [I18N_T_LANG_ASK] = "🌐 Выбери язык / Choose your language:",
    [I18N_T_LANG_SET] = "✅ Language: English.",
    [I18N_T_UNKNOWN_COMMAND] = "🤔 I don't know that command. The list is at /help.",
    [I18N_T_FLOOD] = "🐢 Too many messages in a row. I'm pausing for {1}, then we'll carry on.",
    [I18N_T_BAD_TEXT] =
        "⚠️ I couldn't read that message. Please send the text again as a plain message.",
    [I18N_T_NOT_NOW] = "🤔 I'm not expecting that right now. To make a video, tap “🎬 Create video”.",
    [I18N_T_USE_BUTTONS] = "👆 Pick an option with the buttons under the message.",
    [I18N_T_WAIT_ORDER] = "⏳ Placing your order, one moment…",
    [I18N_T_CANCELLED] = "OK, cancelled. Back to the menu.",
    [I18N_T_INTERNAL] = "⚠️ Something went wrong on our side. Please try again in a minute.",
    [I18N_S_FRIEND] = "there",
    [I18N_S_CONTACT_FALLBACK] = "to support (/support)",
    [I18N_S_DATE] = "{3}-{2}-{1} {4} UTC",

    //  --- creating videos ---
    [I18N_T_ASK_MODEL] = "🤖 Choose a model (price of one video):",
    [I18N_T_ASK_PHOTO] =
        "📸 Send a photo of the product (no people in the shot).\n"
        "\n"
        "A regular photo or an image file (JPG, PNG, WebP) up to {1} MB.",
    [I18N_T_PHOTO_HINT] =
        "📸 I need a product photo here: a regular photo or a JPG, PNG or WebP file.",
    [I18N_T_PHOTO_TOO_BIG] = "⚠️ The file is too large: {1} MB at most.",
    [I18N_T_DOC_NOT_IMAGE] =
        "⚠️ That file is not an image. Send a photo or a JPG, PNG or WebP file.",
    [I18N_T_ASK_PRODUCT] =
        "✍️ Describe the product in one message: what it is, who it is for and why it is good "
        "(up to {1}).",
    [I18N_T_NEED_TEXT] = "✍️ I need text at this step.",
    [I18N_T_EMPTY_TEXT] = "✍️ The message is empty. Write at least a few words.",
    [I18N_T_TOO_LONG] = "⚠️ Too long: {1}, and the limit is {2}. Shorten it and send it again.",
    [I18N_T_ASK_TEMPLATE] =
        "🎛 Choose a video template:\n"
        "\n"
        "🎥 <b>UGC creator</b> — as if a blogger filmed the product on a phone\n"
        "📢 <b>Ad</b> — a dynamic commercial\n"
        "🧑‍💻 <b>Own prompt</b> — you write the script yourself",
    [I18N_T_ASK_WISHES] =
        "✨ Any extra wishes? If not, send “-”\n"
        "\n"
        "For example: “light background, close-ups, upbeat pace”.",
    [I18N_T_ASK_PROMPT] =
        "🧑‍💻 Send your prompt in one message (up to {1}). It goes to the generation as is.",
    [I18N_T_ASK_COUNT] =
        "🎬 How many videos?\n"
        "\n"
        "One video costs {1}.",
    [I18N_T_NO_CREDITS] =
        "😔 Not enough credits: you need <b>{1}</b> more.\n"
        "\n"
        "Top up your balance or choose fewer videos.",
    [I18N_T_CONFIRM] =
        "🎬 <b>Ready to launch</b>\n"
        "\n"
        "🤖 Model: {1}\n"
        "🎛 Template: {2}\n"
        "📦 Product: {3}\n"
        "{4}🎞 Count: {5}\n"
        "💰 Cost: {6}\n"
        "💳 Balance after: {7}\n"
        "\n"
        "⏱ Generation takes 1 to 30 minutes.\n"
        "\n"
        "Launch?",
    [I18N_T_CONFIRM_WISHES] = "✨ Wishes: {1}\n",
    [I18N_T_CONFIRM_PROMPT] = "🧑‍💻 Prompt: {1}\n",
    [I18N_T_MODEL_GONE] =
        "⚠️ This model is not available right now. Start over with “🎬 Create video”.",
    [I18N_T_ACCEPTED] =
        "✅ Got it! Generating {1}.\n"
        "\n"
        "⏱ It takes 1 to 30 minutes; I'll send the result here.",
    [I18N_T_ALREADY_RUNNING] =
        "⏳ This order is already running, so I'm not charging twice. The result will arrive "
        "here; track it in “🖼 My generations”.",
    [I18N_T_TOO_MANY_ACTIVE] =
        "⏳ You already have the maximum in progress: {1}. Wait for them to finish and launch "
        "again.",
    [I18N_T_RATE_LIMITED] = "🚦 Too many orders in a minute. Wait a little and try again.",

    //  --- a job's status message, result and failure ---
    [I18N_T_STATUS] = "🎬 Video #{1}: {2}",
    [I18N_S_ST_QUEUED] = "⏳ in queue",
    [I18N_S_ST_RUNNING] = "🔄 generating…",
    [I18N_S_ST_PROGRESS] = "🔄 generating — {1}%",
    [I18N_S_ST_RETRY_BUSY] =
        "⏳ the service is overloaded, retrying automatically (attempt {1} of {2})",
    [I18N_S_ST_RETRY_TEMP] = "⚠️ temporary error, retrying automatically (attempt {1} of {2})",
    [I18N_S_ST_DONE] = "✅ done",
    [I18N_S_ST_FAILED] = "❌ failed",
    [I18N_S_ST_CANCELLED] = "🚫 cancelled",
    [I18N_T_RESULT] = "✅ Video #{1} is ready!",
    [I18N_T_RESULT_LINK] = "✅ Video #{1} is ready! Download: <a href=\"{2}\">link to the video</a>",
    [I18N_T_RESULT_MISSING] =
        "⚠️ Video #{1} is ready, but I couldn't get the file. Please contact support — "
        "/support.",
    [I18N_T_FAIL_CONTENT] =
        "⚠️ Video #{1}: the generation service rejected the request under its rules.\n"
        "\n"
        "Usually it is the photo: show the product without people or faces, other brands' "
        "logos or explicit content. Try another photo or change the description.{2}",
    [I18N_T_FAIL_BUSY] =
        "⏳ Video #{1}: the generation service is overloaded and the retries did not help. Try "
        "again in a few minutes.{2}",
    [I18N_T_FAIL_TEMPORARY] =
        "⚠️ Video #{1}: a technical problem on the generation service's side. Try again a bit "
        "later.{2}",
    [I18N_T_FAIL_TIMEOUT] = "⌛ Video #{1}: the generation took too long, so I stopped it.{2}",
    [I18N_T_FAIL_GENERIC] = "❌ Video #{1}: the generation failed.{2}",
    [I18N_T_REFUNDED] =
        "\n"
        "\n"
        "{1} returned to your balance ✅",

    //  --- my generations ---
    [I18N_T_HISTORY] =
        "🖼 <b>My generations</b>\n"
        "\n"
        "{1}\n"
        "Open one with the buttons below.",
    [I18N_T_HISTORY_EMPTY] = "🖼 No generations yet. Tap “🎬 Create video” to make the first one.",
    [I18N_T_HISTORY_LINE] = "{1} #{2} · {3} · {4}\n",
    [I18N_T_JOB] =
        "🎬 <b>Generation #{1}</b>\n"
        "\n"
        "State: {2}\n"
        "Template: {3}\n"
        "Model: {4}\n"
        "Created: {5}\n"
        "{6}",
    [I18N_T_JOB_PRODUCT] = "📦 Product: {1}",
    [I18N_T_JOB_NOT_FOUND] = "🤔 No such generation.",
    [I18N_T_JOB_CANCELLED] = "🚫 Generation #{1} cancelled.{2}",
    [I18N_T_JOB_CANT_CANCEL] =
        "⏳ Generation #{1} has already started and can't be cancelled. If it fails, the "
        "credits come back automatically.",
    [I18N_S_TPL_UGC] = "🎥 UGC creator",
    [I18N_S_TPL_AD] = "📢 Ad",
    [I18N_S_TPL_OWN] = "🧑‍💻 Own prompt",

    //  --- account ---
    [I18N_T_ACCOUNT] =
        "👤 <b>Account</b>\n"
        "\n"
        "💳 Balance: <b>{1}</b>\n"
        "⏳ In progress (held): {2}",
    [I18N_T_ENTRIES] =
        "📜 <b>Latest balance changes</b>\n"
        "\n"
        "{1}",
    [I18N_T_ENTRIES_EMPTY] = "📜 No balance changes yet.",
    [I18N_T_ENTRY_LINE] = "<b>{1}</b> · {2} · {3}\n",
    [I18N_S_EK_GRANT] = "🎁 welcome gift",
    [I18N_S_EK_TOPUP] = "⭐ top-up",
    [I18N_S_EK_HOLD] = "⏳ held for video #{1}",
    [I18N_S_EK_CAPTURE] = "✅ paid from held for video #{1}",
    [I18N_S_EK_RELEASE] = "↩️ refund for video #{1}",
    [I18N_S_EK_ADJUST] = "🛠 adjustment: {1}",
    [I18N_S_EK_REFUND] = "↩️ payment refund",
    [I18N_S_EK_OTHER] = "balance change",
    [I18N_T_BUY] =
        "⭐ <b>Top up</b>\n"
        "\n"
        "Credit packs for Telegram Stars:\n"
        "{1}\n"
        "Payment will appear here very soon. Payment questions: /paysupport.",
    [I18N_T_BUY_LINE] = "• {1} — {2} ⭐\n",

    //  --- buttons ---
    [I18N_B_CREATE] = "🎬 Create video",
    [I18N_B_HISTORY] = "🖼 My generations",
    [I18N_B_ACCOUNT] = "👤 Account",
    [I18N_B_SUPPORT] = "🆘 Support",
    [I18N_B_MENU] = "🏠 Menu",
    [I18N_B_TOPUP] = "⭐ Top up",
    [I18N_B_ENTRIES] = "📜 History",
    [I18N_B_BACK] = "⬅️ Back",
    [I18N_B_CANCEL] = "❌ Cancel",
    [I18N_B_LAUNCH] = "✅ Launch",
    [I18N_B_RETRY] = "🔁 Try again",
    [I18N_B_AGAIN] = "🔄 Once more",
    [I18N_B_REPEAT] = "🔄 Repeat",
    [I18N_B_CANCEL_JOB] = "❌ Cancel it",
    [I18N_B_TPL_UGC] = "🎥 UGC creator",
    [I18N_B_TPL_AD] = "📢 Ad",
    [I18N_B_TPL_OWN] = "🧑‍💻 Own prompt",
    [I18N_B_COUNT] = "{1} {2} · {3}",
    [I18N_B_MODEL] = "{1} · {2}",
    [I18N_B_JOB] = "{1} #{2}",
    [I18N_B_CONTACT] = "✉️ Write to support",
    [I18N_B_LANG_RU] = "🇷🇺 Русский",
    [I18N_B_LANG_EN] = "🇬🇧 English",

    //  --- callback answers ---
    [I18N_A_STALE] = "This button is out of date",
    [I18N_A_ALREADY] = "This order is already running",
    [I18N_A_WAIT] = "⏳ One moment…",
    [I18N_A_FLOOD] = "🐢 Too fast, wait a little",

    //  --- plural nouns: one|other ---
    [I18N_N_CREDIT] = "credit|credits",
    [I18N_N_VIDEO] = "video|videos",
    [I18N_N_GENERATION] = "generation|generations",
    [I18N_N_SECOND] = "second|seconds",
    [I18N_N_CHAR] = "character|characters",
};
// clang-format on
