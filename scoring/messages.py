"""Messages of the core in Chinese (first) and English.

The core raises structured problems (a code and its parameters); this catalog
turns them into sentences in the reader's language. The web layer uses
Flask-Babel for its own strings; the core keeps its catalog here so that it
stays free of any framework and the command line speaks both languages too.
"""

from __future__ import annotations

from typing import Any

# code: (中文, English). Each names the place and the fix.
CATALOG: dict[str, tuple[str, str]] = {
    # rules file
    # YAML the parser cannot read: the common cases say what is wrong and how to fix it (the
    # place is given before the message); anything else keeps the parser's own words.
    "yaml_syntax": ("YAML 语法错误(解析器原文:{detail})", "YAML syntax error: {detail}"),
    "yaml_flow_seq": ("第 {open} 行开始的方括号 [ 没有配对的 ],或其中两项之间缺少逗号;请补上 ] 或逗号", "the list opened with [ on line {open} is not closed with ], or a comma is missing between two items; add the ] or the comma ({detail})"),
    "yaml_flow_map": ("第 {open} 行开始的花括号 {{ 没有配对的 }},或其中两项之间缺少逗号;请补上 }} 或逗号", "the mapping opened with {{ on line {open} is not closed with }}, or a comma is missing between two items; add the }} or the comma ({detail})"),
    "yaml_tab": ("这里有 Tab 制表符;YAML 只能用空格缩进,请把 Tab 换成空格", "there is a tab here; YAML is indented with spaces only: replace the tab with spaces ({detail})"),
    "yaml_duplicate": ("配置项 “{key}” 在同一层写了两次(第一次在第 {open} 行);请删去或合并其中一个", "key '{key}' is written twice at the same level (first on line {open}); remove or merge one ({detail})"),
    "yaml_colon_here": ("这里不能再出现 “键: 值”:可能是缩进不对,或文字里含有 “: ”;含冒号的文字请加引号", "a 'key: value' cannot start here: the indentation may be wrong, or a text holds ': ' and must be quoted ({detail})"),
    "yaml_no_colon": ("第 {open} 行缺少冒号:每一项应写作 “键: 值”(冒号后加空格)", "line {open} has no colon: write each entry as 'key: value' (a space after the colon) ({detail})"),
    "yaml_indent": ("缩进不齐:同一层的项要用同样多的空格对齐,下一层多缩进两个空格", "the indentation does not line up: entries of one level start at the same column, the next level two spaces further ({detail})"),
    "yaml_extra": ("值后面还有多余的内容;整段文字请放在一对引号里,或删去多余部分", "there is more after the value; put the whole text in one pair of quotes, or remove the rest ({detail})"),
    "yaml_quote": ("第 {open} 行的引号没有配对;请在文字末尾补上同样的引号", "the quote opened on line {open} is never closed; close the text with the same quote ({detail})"),
    "yaml_char": ("值不能以 “{char}” 开头;请给这个值加引号,如 \"{char}…\"", "a value cannot start with '{char}'; put the value in quotes, e.g. \"{char}…\" ({detail})"),
    "yaml_escape": ("双引号里的反斜杠 \\ 后面不能跟 “{char}”;请改用单引号,或把 \\ 写成 \\\\", "a backslash in double quotes cannot be followed by '{char}'; use single quotes, or write \\\\ ({detail})"),
    "yaml_alias": ("“*{name}” 引用了未定义的锚点;以 * 开头的文字请加引号", "'*{name}' refers to an anchor that is not defined; quote a text that starts with * ({detail})"),
    "yaml_control_char": ("这里有一个看不见的控制字符 {char}(常从 Word、网页或聊天软件复制时带入);请删去它,或重新输入这段文字", "there is an invisible control character {char} here (often pasted from Word, a web page or a chat); delete it, or type the text again"),
    "yaml_too_deep": ("括号或缩进在这里嵌套超过 {limit} 层,规则文件用不到这么多层;请检查是否多写了 [ 或 {{", "brackets or indentation nest more than {limit} levels deep here, deeper than any rules file needs; look for stray [ or {{"),
    "yaml_value": ("这个值无法读取;请检查写法,文字值请加引号({detail})", "this value cannot be read; check how it is written, and quote a text ({detail})"),
    "not_mapping": ("这里应为键值映射(key: value)", "a mapping (key: value) is expected here"),
    "not_list": ("这里应为列表(- 项)", "a list (- item) is expected here"),
    "missing_key": ("缺少必填项 “{key}”", "required key '{key}' is missing"),
    "unknown_key": ("未知的配置项 “{key}”;可用:{allowed}", "unknown key '{key}'; allowed: {allowed}"),
    "unknown_key_near": ("未知的配置项 “{key}”;是不是 “{near}”?请改正拼写", "unknown key '{key}'; did you mean '{near}'? Correct the spelling"),
    "bad_choice": ("“{value}” 不是可选值之一:{allowed}", "'{value}' is not one of: {allowed}"),
    "bad_amount": ("“{value}” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)", "'{value}' is not an exact amount; write a number such as 5 or 0.5 (at most two decimals, at most a billion)"),
    "bad_step_size": ("步长 “{value}” 必须大于 0;请写成正数,如 0.5 或 1", "step '{value}' must be more than 0; write a positive number such as 0.5 or 1"),
    "bad_step": ("分值 {value} 不是步长 {step} 的整数倍", "amount {value} is not a multiple of the step {step}"),
    "bad_int": ("“{value}” 应为非负整数", "'{value}' must be a whole number, zero or more"),
    "bad_date": ("“{value}” 不是日期,请写作 2026-01-01", "'{value}' is not a date; write it as 2026-01-01"),
    "bad_int_range": ("{key} 应为 {low} 到 {high} 之间的整数,这里写的是 “{value}”;请改正", "{key} must be a whole number from {low} to {high}, not '{value}'; correct it"),
    "bad_date_day": ("“{value}” 不是日历上有的日期(这个月没有这一天);请核对月份和日子,如 2026-03-01", "'{value}' is not a day of the calendar (the month has no such day); check the month and day, e.g. 2026-03-01"),
    "bad_date_time": ("“{value}” 带有时刻;这里只写日期,如 2026-03-01(有效期按整天算,首尾两天都算在内)", "'{value}' has a time of day; write a date only, like 2026-03-01 (validity counts whole days, both ends included)"),
    "bad_text": ("“{key}” 应为非空文字", "'{key}' must be non-empty text"),
    "bad_text_item": ("“{key}” 中的这一项应为非空文字", "this item of '{key}' must be non-empty text"),
    "duplicate_id": ("编号 “{id}” 重复,第一次出现在第 {line} 行", "id '{id}' is used twice; first at line {line}"),
    "exclusive_types": ("互斥组 “{group}” 里的 {other} 记 {otype},这条记 {rtype}:不同积分类型的分值无法比大小;请只把同一积分类型的规则放进一组",
                        "exclusive group '{group}' holds {other} in {otype} and this rule in {rtype}: amounts of different point types cannot be compared; group rules of one point type only"),
    "percent_without_carry": ("percent 只在 policy: carry(按比例结转)时有用,policy: {policy} 会忽略它;请删去 percent 或改为 carry",
                              "percent only means something with policy: carry; policy: {policy} ignores it: remove percent or use carry"),
    "full_width_separator": ("“{value}” 里有全角的 “{char}”:YAML 只认半角的 “{ascii}”,请切换到英文标点重新输入",
                             "'{value}' holds a full-width '{char}': YAML only knows the ASCII '{ascii}'; retype it with English punctuation"),
    "unknown_ref": ("未定义的{kind} “{value}”;已定义:{allowed}", "unknown {kind} '{value}'; defined: {allowed}"),
    "bad_range": ("区间下限 {low} 大于上限 {high}", "range low {low} is above high {high}"),
    "bad_window": ("有效期开始 {start} 晚于结束 {end}", "validity starts {start} after it ends {end}"),
    "bad_timezone": ("未知时区 “{value}”,例如 Asia/Shanghai", "unknown time zone '{value}', e.g. Asia/Shanghai"),
    "expr_syntax": ("条件写法有误(第 {at} 个字符附近)", "the condition cannot be read near character {at} ({detail})"),
    "expr_char": ("条件里有全角或中文符号 “{char}”(第 {at} 个字符)", "the condition holds the full-width or Chinese mark '{char}' (character {at})"),
    "expr_node": ("条件中不能使用{node}", "{node} cannot be used in a condition"),
    "expr_name": ("条件引用了事件类型 “{event}” 没有的字段 “{name}”;可用字段:{allowed}", "the condition names '{name}', which event type '{event}' does not have; fields: {allowed}"),
    "expr_type": ("条件中类型不匹配:{left} 与 {right} 不能用 {op} 比较", "type mismatch in condition: {left} and {right} cannot be compared with {op}"),
    "expr_choice": ("“{value}” 不是字段 “{name}” 的可选值:{allowed}", "'{value}' is not a value of field '{name}': {allowed}"),
    "expr_not_bool": ("条件的结果必须是真/假", "a condition must give true or false"),
    "grade_order": ("等级门槛必须从高到低排列", "grade thresholds must go from highest to lowest"),
    "per_unit_field": ("按单位计分需要数值字段,“{field}” 是 {type}", "per-unit points need a number field; '{field}' is {type}"),
    "multiplier_attr": ("倍数依据 “{attr}” 不是事件字段或户属性;可用:{allowed}", "multiplier attribute '{attr}' is neither an event field nor a household attribute; available: {allowed}"),
    "points_one_of": ("points 需写 fixed、per_unit 或 range 之一", "points needs exactly one of fixed, per_unit or range"),
    "holder_mismatch": ("分类 “{category}” 属于积分类型 “{ctype}”,规则却是 “{rtype}”", "category '{category}' belongs to point type '{ctype}', the rule to '{rtype}'"),
    "no_subject": ("事件类型 “{event}” 的主体是 {subject},无法记入以{holder}为账户的积分 “{ptype}”", "event type '{event}' is about a {subject} and cannot score point type '{ptype}' held by a {holder}"),
    "linked_needs_household": ("“linked: true” 只用于主体是村民、并写明农户(household: true)的事件类型", "'linked: true' is only for event types about a person that name a household (household: true)"),
    "bad_number": ("“{value}” 应为数字,例如 24 或 0.5", "'{value}' must be a number, e.g. 24 or 0.5"),
    "bound_needs_number": ("min / max 只用于 int 或 decimal 字段,这个字段是 {type}", "min / max are only for int or decimal fields; this one is {type}"),
    "cap_below_points": ("规则 {rule} 每次记 {points} 分,却超过它自己的{window}上限 {cap}:每次最多只能记 {cap} 分;请调高上限或改分值", "rule {rule} gives {points} each time, above its own {window} cap of {cap}: it could never give them whole; raise the cap or change the points"),
    "cap_not_positive": ("上限 “{value}” 必须大于 0;请写成正数,如 40(要让规则停止计分,请用 valid 写明截止日期)", "cap '{value}' must be more than 0; write a positive number such as 40 (to stop a rule scoring, give it an end date with valid)"),
    "floor_not_positive": ("扣分底数 “{value}” 必须大于 0;请写成正数,如 20(底数为 0 时这一类的扣分全部不扣)", "floor base '{value}' must be more than 0; write a positive number such as 20 (a base of 0 would cancel every deduction of the category)"),
    "bad_factor": ("倍数 “{value}” 应大于 0、不超过 {max},最多四位小数,如 1.5 或 2", "factor '{value}' must be more than 0 and at most {max}, with at most four decimals, e.g. 1.5 or 2"),
    "republish_same_day": ("这份规则已于 {effective} 起生效过(第 {id} 版),其后同一天又发布了第 {newer} 版;要恢复它,请另选生效日期(例如明天)", "this text was published from {effective} before (version #{id}), and version #{newer} was published for the same day since: to bring it back, choose another effective date (tomorrow, say)"),
    # hints
    "hint_yaml": ("检查缩进(用空格,不用 Tab)和冒号后的空格", "Check the indentation (spaces, not tabs) and the space after each colon"),
    "hint_spelling": ("检查拼写,或先在上面定义它", "Check the spelling, or define it first"),
    "hint_fields": ("在 event_types 中为该事件类型声明此字段,或改用已声明的字段", "Declare the field under event_types for this event type, or use a declared one"),
    "hint_expr_allowed": ("条件只能写字段名、数字、加引号的文字、比较(== != < <= > >= in)和 and / or / not", "A condition may use field names, numbers, quoted text, comparisons (== != < <= > >= in) and and / or / not"),
    "hint_expr_syntax": ("比较用 ==,文字要加引号,并且/或者写作 and/or,如 hours >= 2 and tier == \"red\"", "Compare with ==, put text in quotes, join with and / or, e.g. hours >= 2 and tier == \"red\""),
    "hint_expr_eq": ("相等要写两个等号 ==,如 tier == \"red\"", "Test equality with two equals signs ==, e.g. tier == \"red\""),
    "hint_expr_order": ("“小于等于”写作 <=,“大于等于”写作 >=", "Write 'at most' as <= and 'at least' as >="),
    "hint_expr_words": ("“并且/或者/不是”写作 and / or / not,比较用 == != < <= > >= 符号", "Write and / or / not between conditions and compare with == != < <= > >="),
    "hint_expr_quote": ("文字两边的引号要成对,如 \"red\"", "Put a quote at both ends of a text, e.g. \"red\""),
    "hint_expr_paren": ("括号要成对:每个 ( 都要有对应的 )", "Parentheses come in pairs: close every ( with a )"),
    "hint_expr_char": ("请用英文半角符号:引号 \" 或 ',括号 ( ),比较 == >= <=", "Use plain ASCII marks: quotes \" or ', parentheses ( ), comparisons == >= <="),
    "hint_quote": ("文字值要加引号,例如 tier == \"red\"", "Quote text values, e.g. tier == \"red\""),
    # events
    "event_missing": ("缺少字段 “{field}”", "field '{field}' is missing"),
    "event_type_unknown": ("没有规则认识事件类型 “{value}”;已知:{allowed}", "no rule knows event type '{value}'; known: {allowed}"),
    "event_field_type": ("字段 “{field}” 应为{expected},收到 “{value}”", "field '{field}' must be {expected}, got '{value}'"),
    "event_field_min": ("字段 “{field}” 不能小于 {bound},收到 “{value}”;请核对数值(扣分请用扣分项,不要填负数)", "field '{field}' cannot be less than {bound}, got '{value}'; check the value (deductions have their own rules: never enter a negative amount)"),
    "event_field_max": ("字段 “{field}” 不能大于 {bound},收到 “{value}”;如确有其事,请分几条录入或请管理员调整规则", "field '{field}' cannot be more than {bound}, got '{value}'; if that is right, enter it as several records or ask the administrator to change the rules"),
    "event_field_unknown": ("事件类型 “{event}” 没有字段 “{field}”", "event type '{event}' has no field '{field}'"),
    "event_field_choice": ("字段 “{field}” 的值 “{value}” 不在 {allowed} 之中", "field '{field}' value '{value}' is not one of {allowed}"),
    "event_time": ("时间 “{value}” 无法识别(或没有这一天);请写作 2026-03-01 09:30、2026/3/1 9:30 或 2026年3月1日", "time '{value}' is not understood (or there is no such day); write 2026-03-01 09:30, 2026/3/1 9:30 or 2026-03-01T09:30:00+08:00"),
    "members_only_person": ("“members_only: true” 只用于记在个人名下(holder: person)的积分类型:一户不是党员", "'members_only: true' is only for point types held by persons (holder: person): a household is no Party member"),
    "event_not_party_member": ("{day} 这位村民不是党员,{point_type}只记给党员;请核对人员编号,或先在名册中登记其党员身份", "on {day} this villager was not a Party member, and {point_type} go to Party members only: check the code, or register the Party membership in the roll first"),
    "event_not_linked": ("{day} 这位村民不是这户的联系党员,联户积分只记给联系该户的党员;请核对村民和户号,或先登记联户关系", "on {day} this villager was not the Party member linked to this household; household-linking points go only to that member: check the codes, or register the link first"),
    "event_in_future": ("时间 {value} 还没到(现在是 {now}),不能预先记分;请核对日期", "{value} has not come yet (it is {now} now): points are never given ahead; check the date"),
    "unknown_person": ("找不到村民 “{value}”,请核对编号或先导入户籍名册", "no villager '{value}'; check the code or import the household roll first"),
    "unknown_household": ("找不到农户 “{value}”,请核对户号或先导入户籍名册", "no household '{value}'; check the household code or import the household roll first"),
    "no_household_at": ("这位村民在 {day} 不属于任何户(这项积分记在户上);请核对日期,或导入含其所在户、生效日不晚于该日的户籍名册", "this villager belonged to no household on {day} (these points go to a household); check the date, or import a roll that places them in a household from that day"),
    "points_not_chosen": ("记录写了分值 {value},但规则 {rules} 的分值由细则规定、不由记录选择;请删去 points,或核对是否选错了规则", "the record gives points {value}, but rule {rules} sets its own points and takes none from a record: leave points out, or check the rule"),
    "range_needs_points": ("规则 {rule} 由审核人在 {low}–{high} 分之间酌定,请填写 points", "rule {rule} is scored by the reviewer within {low}-{high}; give points"),
    "range_outside": ("分值 {value} 超出规则 {rule} 的区间 {low}–{high}", "points {value} are outside rule {rule}'s range {low}-{high}"),
    "range_step": ("分值 {value} 在规则 {rule} 的区间 {low}–{high} 内,但须为 {step} 的整数倍,如 {low}", "points {value} are within rule {rule}'s range {low}-{high} but must be a multiple of {step}, such as {low}"),
    "amount_too_large": ("按规则 {rule} 算出的分值 {amount} 超过单条上限 {max} 分,未记录;请核对记录中的数量,或请管理员核对规则的倍数", "rule {rule} works out {amount} points, more than the {max} one entry may hold: not recorded; check the quantity in the record, or ask the administrator to check the rule's factors"),
    "no_rules_version": ("{day} 时没有生效的规则版本", "no rules version was in force on {day}"),
    "duplicate_conflict": ("编号 {value} 已用于另一条不同的事件,本条未记录;请为这件事另起一个编号(同一编号只代表一件事)", "id {value} was used for a different event: this one was not recorded; give it an id of its own (one id, one event)"),
    "duplicate_event": ("该事件已记录过(编号 {value}),本次未重复记分", "this event was recorded before (id {value}); not counted again"),
    "no_rule_matched": ("没有规则适用于此事件", "no rule applies to this event"),
    "bad_json": ("不是有效的 JSON:{detail}", "not valid JSON: {detail}"),
    "csv_missing_columns": ("表头缺少必填列 {columns},整个文件未导入;第一行须有 id、type、occurred_at(其余列可选:{optional};再多的列是事件字段)", "the header lacks the required column(s) {columns}: nothing was imported; the first row must hold id, type and occurred_at (optional: {optional}; any other column is an event field)"),
    "template_example_left": ("“{value}” 是台账模板示例行的占位编号:请换成真实编号(jifen directory export 可导出),或删去这一行", "'{value}' is the placeholder of the template's example rows: put a real code in its place (jifen directory export lists them), or delete the row"),
    "columns_disagree": ("“{first}” 和 “{second}” 两列都填了,却不一样(“{a}” 和 “{b}”),不知记给谁;请只填其中一列", "columns '{first}' and '{second}' are both filled in and differ ('{a}' and '{b}'): whom to score is unclear; fill in only one of them"),
    "csv_extra_values": ("这一行比表头多出 {count} 个值({values}),未导入;请检查是否多打了逗号,或给这些列加上表头", "this row has {count} value(s) more than the header ({values}): not imported; check for a stray comma, or give those columns a header"),
    # spreadsheets (services.tables) and the household roll (services.roll)
    "xlsx_unreadable": ("无法作为 Excel 工作簿打开({detail}),整个文件未导入;请在 Excel 中另存为 .xlsx 格式(不是 .xls 或 .et)后重新导入",
                        "the file cannot be opened as an Excel workbook ({detail}): nothing was imported; save it from Excel as .xlsx (not .xls) and import it again"),
    "xls_old_format": ("这是旧版 Excel(.xls)或 WPS(.et)文件,整个文件未导入;请在 Excel 或 WPS 中“另存为” .xlsx 后重新导入",
                       "this is an old Excel (.xls) or WPS (.et) file: nothing was imported; save it as .xlsx from Excel or WPS and import it again"),
    "xlsx_no_sheet": ("工作簿里没有名为 “{sheet}” 的工作表;现有:{sheets}", "the workbook has no sheet '{sheet}'; it has: {sheets}"),
    "table_empty": ("文件是空的:第一行应是表头", "the file is empty: its first row must be the header"),
    "xlsx_number_too_long": ("“{column}” 一格被 Excel 存成了数字,超过 15 位的末几位已经丢失,本行未导入;请把这一列设为“文本”格式,重新输入后再导入",
                             "Excel stored the '{column}' cell as a number and lost its last digits: not imported; format the column as Text, type the value again and import again"),
    "roll_missing_columns": ("名册表头缺少 {columns} 列,未导入;第一行须有 乡镇、村、网格、户号、姓名,以及 身份证号 或 人员编号(可用 jifen directory template 生成样表)",
                             "the roll's header lacks {columns}: nothing was imported; the first row must hold 乡镇, 村, 网格, 户号, 姓名 and 身份证号 or 人员编号 (jifen directory template writes a sample)"),
    "roll_empty": ("“{column}” 为空;请填写", "'{column}' is empty; fill it in"),
    "roll_no_identity": ("身份证号和人员编号都为空;请至少填一项,以便认出这个人", "both the ID number and the person code are empty: give at least one, so the person can be recognised"),
    "roll_bad_id": ("身份证号 {value} 不是有效的 18 位号码(位数或校验位不对);请核对", "ID number {value} is not a valid 18-character number (its length or check character is wrong); check it"),
    "roll_number_lost": ("“{column}” 一格被 Excel 存成了数字,超过 15 位的末几位已经丢失;请把这一列设为“文本”格式,重新输入后再导入",
                         "Excel stored the '{column}' cell as a number and lost its last digits; format the column as Text, type the value again and import again"),
    "roll_bad_phone": ("联系电话应为 11 位手机号或带区号的固定电话;请核对", "the phone should be an 11-digit mobile number or a landline with its area code; check it"),
    "roll_bad_year": ("出生年份 “{value}” 不是 1900–2100 间的年份", "birth year '{value}' is not a year between 1900 and 2100"),
    "roll_id_disagrees": ("“{column}” 填的是 {value},身份证号上是 {from_id};请核对身份证号或这一栏", "'{column}' says {value}, the ID number says {from_id}; check the ID number or this cell"),
    "roll_bad_gender": ("性别 “{value}” 应填 男 或 女", "gender '{value}' should be 男 or 女"),
    "roll_bad_tier": ("三色 “{value}” 不是规则中的分类;可填:{known}", "tier '{value}' is none of the rules' tiers; use one of: {known}"),
    "roll_bad_party": ("党员一栏 “{value}” 应填 是 或 否(空着表示不变)", "the Party member cell '{value}' should be 是 or 否 (empty leaves it as it is)"),
    "roll_household_split": ("户 {household} 的 “{column}” 与第 {first} 行不同(“{a}” 与 “{b}”):同一户只能在一个地方;请核对", "household {household} has '{column}' '{b}' here but '{a}' on row {first}: a household is in one place; check it"),
    "roll_household_tiers": ("户 {household} 的各行三色不一致({values});请只在一行填写,或填成一样", "household {household}'s rows give different tiers ({values}); give it once, or the same on each row"),
    "roll_household_links": ("户 {household} 的各行联户党员不一致;请只在一行填写,或填成一样", "household {household}'s rows name different linked Party members; give them once, or the same on each row"),
    "roll_two_heads": ("户 {household} 有两位户主(另一位在第 {first} 行);请核对与户主关系", "household {household} has two heads (the other on row {first}); check the relation column"),
    "roll_person_twice": ("同一人在第 {first} 行已出现过(“{column}” 相同);一人只能在名册中出现一次", "the same person is already on row {first} (same '{column}'); a person appears once in a roll"),
    "roll_id_elsewhere": ("身份证号 {value} 已登记在村民 {holder} 名下,与本行的人员编号不符;请核对人员编号或身份证号",
                          "ID number {value} is registered to villager {holder}, not to this row's person code; check the person code or the ID number"),
    "roll_backdated": ("名册的生效日 {day} 早于已登记的最近一次变更({since});名册须按日期先后导入,请用不早于 {since} 的生效日",
                       "the roll's effective date {day} is before the latest change already recorded ({since}); rolls are imported in date order: use an effective date on or after {since}"),
    "roll_no_rows": ("名册只有表头,没有人员;请从第 2 行起每人填一行", "the roll has a header and no rows: give one row per person from row 2 on"),
    "roll_open_claims": ("{holder} 有申报还在审核或公示中,事项发生在本次生效日 {day} 或之后,按原名册提出;请先审结这些申报,或选“更正既往”(命令行加 --backdate)", "{holder} has a claim still being reviewed or on notice, dated on or after this roll's effective date {day}, made under the old roll; settle those claims first, or choose 'correct the past' (--backdate on the command line)"),
    "roll_after_entries": ("{holder} 在 {scored} 已有按原名册记的分,晚于本次生效日 {day};已记的分不会随名册改变,只有今后录入的记录按新名册计。确为更正既往,请选“更正既往”(命令行加 --backdate),否则请用今天或以后的生效日",
                           "{holder} has points scored on {scored} by the old roll, after this roll's effective date {day}; points already scored never change with the roll, only records entered from now on would follow it. If this corrects the past, choose 'correct the past' (--backdate on the command line); otherwise use today or a later effective date"),
    "roll_no_county": ("数据库里还没有县;首次导入请填写县名(命令行加 --county 县名)", "the database has no county yet: give its name on the first import (--county on the command line)"),
    "roll_other_village": ("户 {household} 已登记在另一个村;换村请先办理迁出,再以新户号登记", "household {household} is registered in another village; a household moving village is registered anew under a new code"),
    "roll_link_unknown": ("联户党员 “{value}” 既不是名册中的人员编号,也不是身份证号;请核对", "linked Party member '{value}' is neither a person code nor an ID number of the roll; check it"),
    "roll_linker_omitted": ("“{value}” 被填为联户党员,整村名册里却没有其本人一行(会结束其登记);请补上其本人一行,或改正联户党员", "'{value}' is named as a linked Party member, but the whole-village roll has no row of their own (which would end them): add their row, or correct the linked member"),
    "roll_link_not_member": ("“{value}” 不是党员,不能联户;请核对,或在其本人一行的党员栏填 是", "'{value}' is not a Party member and cannot be linked to households; check it, or put 是 in the Party member cell of that person's row"),
    "bad_encoding": ("这一行有无法识别的字符(既非 UTF-8 也非 GB18030 编码),未导入;请在 Excel 或记事本中另存为 UTF-8 后重新导入",
                     "this line holds bytes that are neither UTF-8 nor GB18030 text and was not imported; save the file as UTF-8 and import it again"),
    # explanation steps
    "step_fixed": ("基础分 {amount}", "base points {amount}"),
    "step_per_unit": ("{quantity} {unit} × {rate} = {amount}", "{quantity} {unit} × {rate} = {amount}"),
    "step_range": ("审核人酌定 {amount}(区间 {low}–{high})", "chosen by reviewer {amount} (range {low}-{high})"),
    "step_multiplier_tier": ("农户分类为{name},× {factor} = {amount}", "household tier {value}, × {factor} = {amount}"),
    "step_multiplier": ("{attr} 为 {value},× {factor} = {amount}", "{attr} is {value}, × {factor} = {amount}"),
    "step_repeat": ("{days} 天内再犯,× {factor} = {amount}", "repeated within {days} days, × {factor} = {amount}"),
    "step_cap": ("{scope}{window}上限 {cap},已得 {used},本次计 {amount}", "{scope} {window} cap {cap}, {used} already, this time {amount}"),
    "step_floor": ("{category} 扣完为止(余 {left}),本次计 {amount}", "{category} deductions stop at its floor ({left} left), this time {amount}"),
    "step_exclusive": ("同组 “{group}” 中取最高的一项", "highest item of group '{group}' taken"),
    "step_not_party_member": ("不是党员,不记{point_type}", "not a Party member: no {point_type}"),
    "step_cooldown": ("{hours} 小时内已计过,本次不计", "already counted within {hours} hours; not counted"),
    "step_reversal": ("冲正第 {entry} 条记录:{reason}", "reverses entry {entry}: {reason}"),
    # closing a period
    "close_bad_period": ("期间 “{value}” 无法识别,请写作 2026、2026-Q1 或 2026-03", "period '{value}' is not understood; write 2026, 2026-Q1 or 2026-03"),
    "close_kind": ("积分类型 “{ptype}” 不按 {period} 这样的期间结转;可结转的期间形如:{allowed}", "point type '{ptype}' is not closed by periods like {period}; it closes periods like: {allowed}"),
    "close_not_ended": ("{period} 尚未结束({end} 起才算结束),期满后再结转", "{period} has not ended yet (it ends on {end}); close it after that"),
    "close_before_rules": ("{period} 在积分规则生效({first})之前,没有可结转的积分", "{period} is before the rules took effect ({first}); there is nothing to close"),
    "close_later_closed": ("更晚的 {later} 已结转,不能再结转更早的 {period}", "the later {later} is already closed; the earlier {period} can no longer be closed"),
    "close_out_of_order": ("请先结转 {earlier}:期末结转须按时间先后进行", "close {earlier} first: periods are closed in order"),
    "close_point_type": ("未知积分类型 “{value}”;已定义:{allowed}", "unknown point type '{value}'; defined: {allowed}"),
    "step_close": ("{period} 期末结转({policy}),结转前 {before}", "period {period} closed ({policy}), balance before {before}"),
    "step_late_closed": ("这笔分记在 {period},入账时 {period} 已期末结转({policy}):余额按结转计,{before} 只计 {kept}(事件 {entry})", "this counts in {period}, closed ({policy}) before it was recorded: the balance takes what the close would have left, {kept} of {before} (event {entry})"),
    "step_reversal_closed": ("冲正第 {entry} 条记录的 {before} 分:其后 {period} 已期末结转({policy}),余额只扣回 {kept} 分", "reversal of entry {entry} ({before}): {period} was closed since ({policy}), so the balance loses only {kept}"),
    "step_refund_closed": ("退回第 {entry} 条消费的 {before} 分:其后 {period} 已期末结转({policy}),只退回 {kept} 分", "refund of entry {entry} ({before}): {period} was closed since ({policy}), so {kept} comes back"),
    "step_expire": ("第 {entry} 条记录超过有效期", "entry {entry} passed its validity"),
    "step_expire_used": ("第 {entry} 条记录超过有效期:其中 {used} 分已先用掉或在期末结转中扣除,失效 {amount} 分", "entry {entry} passed its validity: {used} of it had been used first or cut by a period's close, {amount} expire"),
    "step_expire_closed": ("其后 {period} 已期末结转({policy}),{before} 只剩 {kept},失效的是这 {kept}", "{period} was closed since ({policy}): of {before} only {kept} was left, and that is what expires"),
    "step_veto": ("一票否决项:本期不得评星", "one-vote veto: no grade this period"),
}


def render(code: str, lang: str = "zh", **params: Any) -> str:
    """One message in ``zh`` or ``en``, its parameters filled in."""
    zh, en = CATALOG.get(code, (code, code))
    english = lang.startswith("en")
    template = en if english else zh
    # A parameter given as a (中文, English) pair is shown in the reader's language; a stored
    # explanation comes back from JSON with the pair as a list.
    params = {k: (v[1] if english else v[0]) if isinstance(v, tuple | list) and len(v) == 2 else v for k, v in params.items()}
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


# Units as rules files name them (in Chinese), in English.
UNITS_EN = {"分": "pts", "小时": "hours", "次": "times", "天": "days"}


def unit_label(unit: str, lang: str = "zh") -> str:
    """A point type's unit in the reader's language; a unit with no English name stays as written."""
    return UNITS_EN.get(unit, unit) if lang.startswith("en") else unit
