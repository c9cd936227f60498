# language: zh-CN
功能: 县里的积分细则(rules.yaml)在真实事项上的表现

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | red    |
      | H2   | G1   | yellow |
      | H3   | G2   | orange |
      | H4   | G2   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
      | M1   | H4   | 是   |
    并且 党员 M1 联系农户 H1、H2、H3
    并且 使用县里发布的规则文件

  场景: 党员一个月的联户工作:走访、办结、考勤
    当 录入以下事件:
      | 编号 | 类型               | 时间             | 村民 | 农户 | 字段              |
      | v1   | household_visit    | 2026-03-02 09:00 | M1   | H1   |                   |
      | v2   | household_visit    | 2026-03-02 15:00 | M1   | H1   |                   |
      | v3   | household_visit    | 2026-03-02 16:00 | M1   | H3   |                   |
      | r1   | problem_resolved   | 2026-03-05 10:00 | M1   | H1   | days_to_resolve=2 |
      | r2   | problem_resolved   | 2026-03-06 10:00 | M1   | H2   | days_to_resolve=9 |
      | a1   | meeting_attendance | 2026-03-10 19:00 | M1   |      | status=absent     |
      | a2   | meeting_attendance | 2026-04-10 19:00 | M1   |      | status=absent     |
      | a3   | meeting_attendance | 2026-04-17 19:00 | M1   |      | status=late       |
    那么 事件 v1 按规则 LH-01 记 2 分
    并且 事件 v2 按规则 LH-01 未计分,原因是“24 小时内已计过,本次不计”
    并且 事件 v3 按规则 LH-01 记 1.5 分
    并且 事件 r1 按规则 LH-03 记 10 分,说明为:
      """
      基础分 +5
      农户分类为红色,× 2 = +10
      同组 “resolved” 中取最高的一项
      """
    并且 事件 r1 没有按规则 LH-04 记分
    并且 事件 r2 按规则 LH-04 记 3 分
    并且 事件 a2 按规则 PM-03 记 -2 分
    并且 事件 a3 按规则 PM-04 记 -0.5 分
    并且 M1 的 party_work 在 2026-03 的得分为 15.5
    并且 M1 的 party_work 余额为 13
    并且 M1 的 party_work 在 2026 的等级为“一星党员”

  场景: 道德银行:志愿服务、环境扣分扣完为止、积分超市
    当 录入以下事件:
      | 编号 | 类型              | 时间             | 村民 | 规则  | 字段     |
      | v1   | volunteer_service | 2026-03-01 09:00 | P1   |       | hours=12 |
      | e1   | civility          | 2026-03-02 09:00 | P1   | MB-23 |          |
      | e2   | civility          | 2026-03-03 09:00 | P1   | MB-25 |          |
      | e3   | civility          | 2026-03-04 09:00 | P1   | MB-23 |          |
      | e4   | civility          | 2026-03-05 09:00 | P1   | MB-24 |          |
    那么 事件 v1 按规则 MB-V1 记 20 分
    并且 事件 v1 按规则 VH-01 记 12 分
    并且 事件 e3 按规则 MB-23 记 -10 分
    并且 事件 e4 按规则 MB-24 未计分,原因是“环境卫生 扣完为止(余 0),本次计 0”
    并且 H1 的 moral 余额为 -10
    并且 P1 的 volunteer_hours 余额为 12

  场景: 联户积分只记给联系该户的党员:走访别人的联系户、村民代报,都被退回
    当 录入以下事件:
      | 编号 | 类型            | 时间             | 村民 | 农户 | 字段 |
      | x1   | household_visit | 2026-03-02 09:00 | M1   | H4   |      |
      | x2   | problem_raised  | 2026-03-02 10:00 | P1   | H2   |      |
      | x3   | household_visit | 2026-03-02 11:00 | M1   | H2   |      |
    那么 事件 x1 被退回,提示:
      """
      x1 [household]: 2026-03-02 这位村民不是这户的联系党员,联户积分只记给联系该户的党员;请核对村民和户号,或先登记联户关系
      x1 [household]: on 2026-03-02 this villager was not the Party member linked to this household; household-linking points go only to that member: check the codes, or register the link first
      """
    并且 事件 x2 被退回,提示:
      """
      x2 [household]: 2026-03-02 这位村民不是这户的联系党员,联户积分只记给联系该户的党员;请核对村民和户号,或先登记联户关系
      x2 [household]: on 2026-03-02 this villager was not the Party member linked to this household; household-linking points go only to that member: check the codes, or register the link first
      """
    并且 事件 x3 按规则 LH-01 记 1 分
